"""The reporting views of the DuckDB file: call-to-lead conversion analytics (issue 6).

Every view is a table macro over a time range plus a plain view over all time:
``conversion_by_source`` = ``SELECT * FROM conversion_by_source_between(NULL, NULL)``. The range
is half-open, ``from_ts <= started_at < to_ts`` (NULL = unbounded), on the *call's* start, so
``callsync report --from --to`` and an analyst's ``SELECT * FROM daily_funnel_between(
TIMESTAMPTZ '2024-03-01 00:00+02', TIMESTAMPTZ '2024-04-01 00:00+03')`` agree.

Building blocks (views):

``client_calls``
    Calls between the company and a client: a phone key, a start time and a direction, and not
    skipped as ``own_number``/``transit_call``. Quarantined and deferred calls count (they were
    real calls); UTM gaps are grouped as ``utm_source = '(direct)'``, ``utm_medium = '(none)'``,
    ``utm_campaign = '(none)'`` (Google Analytics' convention for direct traffic), empty text
    read as missing.
``inbound_calls``
    ``client_calls`` that are inbound, with ``first_of_key``: this is the key's first inbound
    call ever (by start, then id) — the "first call" of ``new_callers``.
``callsync_leads``
    One row per lead callsync created (a successful insert into Leads in the write ledger),
    attributed to the earliest call that created it — a lead recorded twice (a rerun, a second
    ledger row with the same Zoho id) counts once. ``owner_id`` is the lead's current owner in
    the phone index, else its owner at creation; ``converted`` comes from the phone index (NULL-safe:
    a lead not in the index is not converted). Conversion is a cohort measure: leads created in
    the range, converted at any time since.
``callsync_won_deals``
    One row per ``Closed Won`` deal a callsync lead converted into: the lead's
    ``converted_deal_id``, else (when Zoho gave only the contact) the deals of its
    ``converted_contact_id``. A deal reached from two leads belongs to the earlier one.

Result views (each also as ``<name>_between(from_ts, to_ts)``):

``conversion_by_source``
    Per (utm_source, utm_medium, utm_campaign) of *inbound* calls — outbound calls carry no
    attribution and never create a lead (row 10): ``calls``; ``callers`` (distinct phone keys);
    ``new_callers`` (keys whose first inbound call falls in this group and range and was
    ``new``); ``leads_created`` (distinct callsync leads created by these calls);
    ``leads_converted`` (of those, converted in Zoho); ``conversion_rate`` =
    ``leads_converted / leads_created`` (NULL when no lead was created). Exactly these columns.
``conversion_by_agent``
    Per Zoho user (``user_id``, ``user_name`` from the ``users`` table): ``calls_answered`` (client calls of both directions the user answered or
    placed and that connected; unmapped employees as ``(unmapped)``), ``inbound_answered``,
    ``outbound_answered``, ``new_leads`` (callsync leads the user owns), ``leads_converted``,
    ``deals_won`` and ``won_amount`` (won deals of those leads).
``missed_call_callbacks``
    Per inbound missed or voicemail call, whether and when the client was called back, counted
    by the call-back task (``callbacks``): the task the call's task slot points at — the one it
    opened, or the open one it was merged into — is ``callback_task_id``; the call is
    ``called_back`` once that task is completed, at its completion time (``callback_at``), by
    whom (``callback_user_id``/``callback_user_name``), and how (``called_back_by``: ``call`` —
    the call that reached the client, whose id and direction are given — or ``zoho``, completed
    by a person in Zoho). A missed call without a call-back task (a row override, a store from
    before call-back tasks were followed) is called back by the first later call with the same
    phone key that connected the client with an employee (``later call``). ``delay_minutes``
    from the missed call's start; NULLs when not called back.
    ``missed_call_callbacks_summary``: ``missed_calls``, ``called_back``, ``never_called_back``,
    ``never_called_back_share``, median and average delay. "Never" means "not by the last
    landing": the newest missed calls may still be called back.
``daily_funnel`` / ``funnel_totals``
    Per local date in the company time zone (``calls.local_date``), resp. for the whole range:
    inbound ``calls`` → ``callers`` → ``new_callers`` → ``leads_created`` → ``leads_converted``
    → ``deals_won`` with ``won_amount`` (leads and deals on the date of the call that created
    the lead).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb


def _in_range(column: str) -> str:
    return f"((from_ts IS NULL OR {column} >= from_ts) AND (to_ts IS NULL OR {column} < to_ts))"


CLIENT_CALLS = """
CREATE OR REPLACE VIEW client_calls AS
SELECT
    c.*,
    coalesce(nullif(trim(c.utm_source), ''), '(direct)') AS source_group,
    coalesce(nullif(trim(c.utm_medium), ''), '(none)') AS medium_group,
    coalesce(nullif(trim(c.utm_campaign), ''), '(none)') AS campaign_group
FROM calls AS c
WHERE c.phone_key IS NOT NULL
  AND c.started_at IS NOT NULL
  AND c.direction IN ('inbound', 'outbound')
  AND coalesce(c.reason, '') NOT IN ('own_number', 'transit_call')
"""

INBOUND_CALLS = """
CREATE OR REPLACE VIEW inbound_calls AS
SELECT
    c.*,
    row_number() OVER (PARTITION BY c.phone_key ORDER BY c.started_at, c.uniqueid) = 1
        AS first_of_key
FROM client_calls AS c
WHERE c.direction = 'inbound'
"""

CALLSYNC_LEADS = """
CREATE OR REPLACE VIEW callsync_leads AS
WITH created AS (
    SELECT
        c.*,
        row_number() OVER (PARTITION BY c.lead_id ORDER BY c.started_at, c.uniqueid) AS nth
    FROM client_calls AS c
    WHERE c.lead_id IS NOT NULL
),
creation_owner AS (
    SELECT uniqueid, zoho_id, min(owner_id) AS owner_id
    FROM crm_writes
    WHERE module = 'Leads' AND op = 'insert' AND status = 'success'
    GROUP BY uniqueid, zoho_id
)
SELECT
    cr.lead_id,
    cr.uniqueid AS created_by_call,
    cr.direction AS created_by_direction,
    cr.started_at AS created_at,
    cr.local_date,
    cr.source_group,
    cr.medium_group,
    cr.campaign_group,
    coalesce(r.owner_id, w.owner_id) AS owner_id,
    coalesce(r.converted, false) AS converted,
    r.converted_at,
    r.converted_contact_id,
    r.converted_deal_id
FROM created AS cr
LEFT JOIN creation_owner AS w ON w.uniqueid = cr.uniqueid AND w.zoho_id = cr.lead_id
LEFT JOIN crm_records AS r ON r.module = 'Leads' AND r.id = cr.lead_id
WHERE cr.nth = 1
"""

CALLSYNC_WON_DEALS = """
CREATE OR REPLACE VIEW callsync_won_deals AS
WITH linked AS (
    SELECT
        d.id AS deal_id,
        l.lead_id,
        d.amount,
        d.closing_date,
        d.owner_id AS deal_owner_id,
        row_number() OVER (PARTITION BY d.id ORDER BY l.created_at, l.lead_id) AS nth
    FROM callsync_leads AS l
    JOIN crm_records AS d
      ON d.module = 'Deals'
     AND (
        d.id = l.converted_deal_id
        OR (l.converted_deal_id IS NULL AND d.contact_id = l.converted_contact_id)
     )
    WHERE l.converted AND d.stage = 'Closed Won'
)
SELECT deal_id, lead_id, amount, closing_date, deal_owner_id
FROM linked
WHERE nth = 1
"""

CONVERSION_BY_SOURCE = f"""
CREATE OR REPLACE MACRO conversion_by_source_between(from_ts, to_ts) AS TABLE
WITH by_calls AS (
    SELECT
        source_group,
        medium_group,
        campaign_group,
        count(*) AS calls,
        count(DISTINCT phone_key) AS callers,
        count(DISTINCT phone_key) FILTER (WHERE first_of_key AND client_status = 'new')
            AS new_callers
    FROM inbound_calls
    WHERE {_in_range("started_at")}
    GROUP BY source_group, medium_group, campaign_group
),
by_leads AS (
    SELECT
        source_group,
        medium_group,
        campaign_group,
        count(DISTINCT lead_id) AS leads_created,
        count(DISTINCT lead_id) FILTER (WHERE converted) AS leads_converted
    FROM callsync_leads
    WHERE created_by_direction = 'inbound' AND {_in_range("created_at")}
    GROUP BY source_group, medium_group, campaign_group
)
SELECT
    b.source_group AS utm_source,
    b.medium_group AS utm_medium,
    b.campaign_group AS utm_campaign,
    b.calls,
    b.callers,
    b.new_callers,
    coalesce(l.leads_created, 0) AS leads_created,
    coalesce(l.leads_converted, 0) AS leads_converted,
    CASE
        WHEN coalesce(l.leads_created, 0) = 0 THEN NULL
        ELSE CAST(l.leads_converted AS DOUBLE) / l.leads_created
    END AS conversion_rate
FROM by_calls AS b
LEFT JOIN by_leads AS l
  ON l.source_group = b.source_group
 AND l.medium_group = b.medium_group
 AND l.campaign_group = b.campaign_group
ORDER BY b.calls DESC, utm_source, utm_medium, utm_campaign
"""

CONVERSION_BY_AGENT = f"""
CREATE OR REPLACE MACRO conversion_by_agent_between(from_ts, to_ts) AS TABLE
WITH answered AS (
    SELECT
        coalesce(employee_user_id, '(unmapped)') AS user_id,
        count(*) AS calls_answered,
        count(*) FILTER (WHERE direction = 'inbound') AS inbound_answered,
        count(*) FILTER (WHERE direction = 'outbound') AS outbound_answered
    FROM client_calls
    WHERE outcome = 'answered' AND {_in_range("started_at")}
    GROUP BY 1
),
leads AS (
    SELECT
        coalesce(owner_id, '(unknown)') AS user_id,
        count(*) AS new_leads,
        count(*) FILTER (WHERE converted) AS leads_converted
    FROM callsync_leads
    WHERE {_in_range("created_at")}
    GROUP BY 1
),
deals AS (
    SELECT
        coalesce(l.owner_id, '(unknown)') AS user_id,
        count(*) AS deals_won,
        sum(coalesce(d.amount, 0)) AS won_amount
    FROM callsync_won_deals AS d
    JOIN callsync_leads AS l ON l.lead_id = d.lead_id
    WHERE {_in_range("l.created_at")}
    GROUP BY 1
),
agents AS (
    SELECT user_id FROM answered
    UNION SELECT user_id FROM leads
    UNION SELECT user_id FROM deals
)
SELECT
    u.user_id,
    coalesce(z.full_name, u.user_id) AS user_name,
    coalesce(a.calls_answered, 0) AS calls_answered,
    coalesce(a.inbound_answered, 0) AS inbound_answered,
    coalesce(a.outbound_answered, 0) AS outbound_answered,
    coalesce(l.new_leads, 0) AS new_leads,
    coalesce(l.leads_converted, 0) AS leads_converted,
    coalesce(d.deals_won, 0) AS deals_won,
    CAST(coalesce(d.won_amount, 0) AS DOUBLE) AS won_amount
FROM agents AS u
LEFT JOIN answered AS a ON a.user_id = u.user_id
LEFT JOIN leads AS l ON l.user_id = u.user_id
LEFT JOIN deals AS d ON d.user_id = u.user_id
LEFT JOIN users AS z ON z.id = u.user_id
ORDER BY calls_answered DESC, new_leads DESC, u.user_id
"""

MISSED_CALL_CALLBACKS = f"""
CREATE OR REPLACE MACRO missed_call_callbacks_between(from_ts, to_ts) AS TABLE
WITH missed AS (
    SELECT *
    FROM client_calls
    WHERE direction = 'inbound'
      AND outcome IN ('missed', 'voicemail')
      AND {_in_range("started_at")}
),
slot AS (
    SELECT uniqueid, coalesce(target_id, zoho_id) AS task_id
    FROM crm_writes
    WHERE module = 'Tasks'
      AND status = 'success'
      AND kind IN ('open_task', 'callback_merge', 'callback_reached')
),
task AS (
    SELECT m.uniqueid AS missed_uniqueid, cb.*
    FROM missed AS m
    JOIN slot AS s ON s.uniqueid = m.uniqueid
    JOIN callbacks AS cb ON cb.task_id = s.task_id
    QUALIFY row_number() OVER (PARTITION BY m.uniqueid ORDER BY cb.opened_at, cb.task_key) = 1
),
connected AS (
    SELECT uniqueid, phone_key, started_at, direction, employee_user_id
    FROM client_calls
    WHERE outcome = 'answered'
),
candidates AS (
    SELECT
        m.uniqueid AS missed_uniqueid,
        k.uniqueid,
        k.started_at,
        k.direction,
        k.employee_user_id,
        row_number() OVER (PARTITION BY m.uniqueid ORDER BY k.started_at, k.uniqueid) AS nth
    FROM missed AS m
    JOIN connected AS k
      ON k.phone_key = m.phone_key
     AND (k.started_at > m.started_at OR (k.started_at = m.started_at AND k.uniqueid > m.uniqueid))
),
decided AS (
    SELECT
        m.*,
        t.task_id AS callback_task_id,
        CASE
            WHEN t.task_id IS NULL THEN NULL
            WHEN t.status = 'completed' THEN 'completed'
            ELSE t.status
        END AS callback_task_status,
        CASE
            WHEN t.task_id IS NULL THEN cb.uniqueid IS NOT NULL
            ELSE t.status = 'completed'
        END AS called_back,
        CASE
            WHEN t.task_id IS NULL THEN cb.uniqueid
            WHEN t.status = 'completed' THEN t.closed_call
        END AS callback_uniqueid,
        CASE
            WHEN t.task_id IS NULL THEN cb.started_at
            WHEN t.status = 'completed' THEN t.closed_at
        END AS callback_at,
        CASE
            WHEN t.task_id IS NULL THEN cb.direction
            WHEN t.status = 'completed' THEN reached.direction
        END AS callback_direction,
        CASE
            WHEN t.task_id IS NULL THEN cb.employee_user_id
            WHEN t.status = 'completed' THEN t.closed_by
        END AS callback_user_id,
        t.closed_by_name,
        CASE
            WHEN t.task_id IS NULL THEN CASE WHEN cb.uniqueid IS NOT NULL THEN 'later call' END
            WHEN t.status <> 'completed' THEN NULL
            WHEN t.closed_call IS NOT NULL THEN 'call'
            ELSE 'zoho'
        END AS called_back_by
    FROM missed AS m
    LEFT JOIN task AS t ON t.missed_uniqueid = m.uniqueid
    LEFT JOIN candidates AS cb ON cb.missed_uniqueid = m.uniqueid AND cb.nth = 1
    LEFT JOIN client_calls AS reached ON reached.uniqueid = t.closed_call
)
SELECT
    d.uniqueid,
    d.started_at AS missed_at,
    d.local_date,
    d.outcome,
    d.client_masked,
    d.source_group AS utm_source,
    d.callback_task_id,
    d.callback_task_status,
    d.called_back,
    d.called_back_by,
    d.callback_uniqueid,
    d.callback_at,
    d.callback_direction,
    d.callback_user_id,
    coalesce(u.full_name, d.closed_by_name, d.callback_user_id) AS callback_user_name,
    (epoch(d.callback_at) - epoch(d.started_at)) / 60.0 AS delay_minutes
FROM decided AS d
LEFT JOIN users AS u ON u.id = d.callback_user_id
ORDER BY d.started_at, d.uniqueid
"""

MISSED_CALL_CALLBACKS_SUMMARY = """
CREATE OR REPLACE MACRO missed_call_callbacks_summary_between(from_ts, to_ts) AS TABLE
SELECT
    count(*) AS missed_calls,
    count(*) FILTER (WHERE called_back) AS called_back,
    count(*) FILTER (WHERE NOT called_back) AS never_called_back,
    CASE
        WHEN count(*) = 0 THEN NULL
        ELSE CAST(count(*) FILTER (WHERE NOT called_back) AS DOUBLE) / count(*)
    END AS never_called_back_share,
    median(delay_minutes) AS median_delay_minutes,
    avg(delay_minutes) AS avg_delay_minutes
FROM missed_call_callbacks_between(from_ts, to_ts)
"""

_FUNNEL_PARTS = f"""
calls_part AS (
    SELECT
        {{key}}
        count(*) AS calls,
        count(DISTINCT phone_key) AS callers,
        count(DISTINCT phone_key) FILTER (WHERE first_of_key AND client_status = 'new')
            AS new_callers
    FROM inbound_calls
    WHERE {_in_range("started_at")}
    {{group}}
),
leads_part AS (
    SELECT
        {{key}}
        count(*) AS leads_created,
        count(*) FILTER (WHERE converted) AS leads_converted
    FROM callsync_leads
    WHERE created_by_direction = 'inbound' AND {_in_range("created_at")}
    {{group}}
),
deals_part AS (
    SELECT
        {{lead_key}}
        count(*) AS deals_won,
        sum(coalesce(d.amount, 0)) AS won_amount
    FROM callsync_won_deals AS d
    JOIN callsync_leads AS l ON l.lead_id = d.lead_id
    WHERE l.created_by_direction = 'inbound' AND {_in_range("l.created_at")}
    {{lead_group}}
)
"""

_FUNNEL_COLUMNS = """
    c.calls,
    c.callers,
    c.new_callers,
    coalesce(l.leads_created, 0) AS leads_created,
    coalesce(l.leads_converted, 0) AS leads_converted,
    coalesce(d.deals_won, 0) AS deals_won,
    CAST(coalesce(d.won_amount, 0) AS DOUBLE) AS won_amount
"""

DAILY_FUNNEL = (
    "CREATE OR REPLACE MACRO daily_funnel_between(from_ts, to_ts) AS TABLE\nWITH"
    + _FUNNEL_PARTS.format(
        key="local_date,",
        group="GROUP BY local_date",
        lead_key="l.local_date,",
        lead_group="GROUP BY l.local_date",
    )
    + "SELECT c.local_date,"
    + _FUNNEL_COLUMNS
    + """FROM calls_part AS c
LEFT JOIN leads_part AS l ON l.local_date = c.local_date
LEFT JOIN deals_part AS d ON d.local_date = c.local_date
ORDER BY c.local_date
"""
)

# Aggregates without GROUP BY always return one row, so the three parts join as one row.
FUNNEL_TOTALS = (
    "CREATE OR REPLACE MACRO funnel_totals_between(from_ts, to_ts) AS TABLE\nWITH"
    + _FUNNEL_PARTS.format(key="", group="", lead_key="", lead_group="")
    + "SELECT"
    + _FUNNEL_COLUMNS
    + "FROM calls_part AS c, leads_part AS l, deals_part AS d\n"
)

RESULT_VIEWS: tuple[str, ...] = (
    "conversion_by_source",
    "conversion_by_agent",
    "missed_call_callbacks",
    "missed_call_callbacks_summary",
    "daily_funnel",
    "funnel_totals",
)
"""Each is a view over all time and a ``<name>_between(from_ts, to_ts)`` table macro."""

BUILDING_BLOCKS = (CLIENT_CALLS, INBOUND_CALLS, CALLSYNC_LEADS, CALLSYNC_WON_DEALS)
MACROS = (
    CONVERSION_BY_SOURCE,
    CONVERSION_BY_AGENT,
    MISSED_CALL_CALLBACKS,
    MISSED_CALL_CALLBACKS_SUMMARY,
    DAILY_FUNNEL,
    FUNNEL_TOTALS,
)


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or replace) every view and macro; the tables must exist."""
    for statement in (*BUILDING_BLOCKS, *MACROS):
        con.execute(statement)
    for name in RESULT_VIEWS:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {name}_between(NULL, NULL)")


def query_between(
    con: duckdb.DuckDBPyConnection,
    name: str,
    date_from: datetime | None,
    date_to: datetime | None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows of ``<name>_between(date_from, date_to)`` (aware datetimes or None)."""
    if name not in RESULT_VIEWS:
        raise ValueError(f"unknown report {name!r}; one of {', '.join(RESULT_VIEWS)}")
    for bound in (date_from, date_to):
        if bound is not None and bound.tzinfo is None:
            raise ValueError("report bounds must be timezone-aware datetimes")
    cursor = con.execute(
        f"SELECT * FROM {name}_between(CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ))",
        [date_from, date_to],
    )
    columns = [str(d[0]) for d in cursor.description or ()]
    rows: Sequence[tuple[Any, ...]] = cursor.fetchall()
    return columns, list(rows)
