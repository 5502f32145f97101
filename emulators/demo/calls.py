"""Demo calls: a timeline per call, rendered as Ringostat call-log rows at any moment.

A call starts ringing at ``start``; after ``waittime`` seconds it is answered (by a person or the
voicemail) and talks for ``billsec`` seconds, or it rings out (missed). Its recording becomes
available ``recording_delay`` seconds after the end. :meth:`CallPlan.row_at` gives the row the
call log shows at a moment: ``CALLING`` while ringing, ``IN PROGRESS`` while talking, then the
final row, first without and later with the recording. Comparing the rows at successive
moments gives the phases of the dataset (new calls and updates of earlier ones).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from emulators.demo.crm import Crm
from emulators.demo.names import UNMAPPED_SIPS
from emulators.demo.people import Company, NumberPool, Person, UaNumber
from emulators.ringostat.fields import KNOWN_FIELDS

RECORDINGS = "https://app.ringostat.com/recordings"
CALL_CARDS = "https://app.ringostat.com/call-card"
SITE = "https://sofa-shop.example"

MISSED_INBOUND = (
    ("NO ANSWER", 50), ("BUSY", 14), ("DECLINE", 10), ("FAILED", 6), ("NO-FORWARD", 5),
    ("WRONG EXTENSION", 4), ("NO EXTENSION", 4), ("CLIENT NO ANSWER", 4),
    ("FAILED FORBIDDEN DESTINATION", 3),
)  # fmt: skip
MISSED_OUTBOUND = (("NO ANSWER", 50), ("BUSY", 20), ("CLIENT NO ANSWER", 20), ("FAILED", 10))
# Ringostat's own reports spell some values with "+" or "_" for the spaces.
HOUR_WEIGHTS = (
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1, 3, 6, 8, 8, 7, 7, 8, 8, 7, 6, 4, 3, 2, 1, 0.6, 0.3,
)  # fmt: skip
UTM_MIX: tuple[tuple[tuple[str, str, str], float], ...] = (
    (("google", "cpc", "brand_search"), 14),
    (("google", "cpc", "generic_sofas"), 16),
    (("facebook", "paid", "spring_sale"), 9),
    (("facebook", "paid", "retargeting"), 6),
    (("instagram", "social", "stories"), 6),
    (("instagram", "paid", "reels_promo"), 4),
    (("google", "organic", ""), 15),
    (("(direct)", "(none)", ""), 10),
    (("", "", ""), 20),
)
MALFORMED_KINDS = (
    "missing_uniqueid",
    "bad_calldate",
    "unknown_disposition",
    "anonymous",
    "empty_caller",
    "sip_caller",
    "short_number",
)

Row = dict[str, Any]


@dataclass
class CallPlan:
    """One call's whole life. ``fields`` holds the parts of the row that never change."""

    index: int
    uniqueid: str | None
    start: datetime
    call_type: str
    outcome: str  # answered | missed | voicemail
    disposition: str
    waittime: int
    billsec: int
    recording_delay: int
    fields: Row
    employee: Person | None = None
    employee_sip: str = ""
    employee_label: str = ""
    client_key: str | None = None
    malformed: str | None = None
    calldate_text: str | None = None
    has_recording: bool = False
    ms: int = 0

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.waittime + self.billsec)

    @property
    def recording_at(self) -> datetime:
        return self.end + timedelta(seconds=self.recording_delay)

    def state_at(self, moment: datetime) -> str | None:
        if moment < self.start:
            return None
        if self.malformed is None and moment < self.end:
            ringing = self.outcome == "missed" or moment < self.start + timedelta(
                seconds=self.waittime
            )
            return "calling" if ringing else "in_progress"
        if self.has_recording and self.malformed is None and moment < self.recording_at:
            return "final_without_recording"
        return "final"

    def row_at(self, moment: datetime, zone: ZoneInfo) -> Row | None:
        state = self.state_at(moment)
        if state is None:
            return None
        # Ringostat answers every requested field; the ones a call has no value for are "".
        row: Row = dict.fromkeys(KNOWN_FIELDS, "")
        if self.uniqueid is None:
            del row["uniqueid"]
        else:
            row["uniqueid"] = self.uniqueid
        local = self.start.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        row["calldate"] = self.calldate_text if self.calldate_text is not None else local
        row["call_type"] = self.call_type
        final = state.startswith("final")
        talking = state == "in_progress" or (final and self.outcome != "missed")
        duration = self.waittime + self.billsec
        with_recording = state == "final" and self.has_recording
        recording = f"{RECORDINGS}/{self.uniqueid or f'row{self.index}'}" if with_recording else ""
        row.update(self.fields)
        row.update(
            {
                "disposition": self.disposition
                if final
                else ("CALLING" if state == "calling" else "IN PROGRESS"),
                "connected_with": self.employee_sip
                if talking and self.outcome == "answered"
                else "",
                "employee_number": self.fields.get("employee_number", "") if talking else "",
                "employee_fio": self.employee_label if talking else "",
                "department": self.fields.get("department", "") if talking else "",
                "duration": duration if final else 0,
                "billsec": self.billsec if final else 0,
                "waittime": self.waittime if final else 0,
                "duration_ms": duration * 1000 + self.ms if final else 0,
                "recording": f"{recording}.mp3" if recording else "",
                "recording_wav": f"{recording}.wav" if recording else "",
                "has_recording": 1 if with_recording else 0,
            }
        )
        return row


def _weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _spell(rng: random.Random, disposition: str) -> str:
    """Ringostat sometimes writes spaces as ``+`` or ``_`` (and lower case)."""
    if " " not in disposition or rng.random() > 0.25:
        return disposition
    spelled = disposition.replace(" ", rng.choice(("+", "_")))
    return spelled.lower() if rng.random() < 0.2 else spelled


@dataclass
class _Visitor:
    utm: tuple[str, str, str]
    client_id: str
    term: str
    content: str


@dataclass
class CallFactory:
    """Builds the call plans of the whole dataset, day by day."""

    rng: random.Random
    company: Company
    crm: Crm
    numbers: NumberPool
    zone: ZoneInfo
    seen_new: list[UaNumber] = field(default_factory=list)
    visitors: dict[str, _Visitor] = field(default_factory=dict)
    plans: list[CallPlan] = field(default_factory=list)
    missing_ids: int = 0

    def _uniqueid(self) -> str:
        return f"ua-{len(self.plans) + 1:06d}{self.rng.getrandbits(20):05x}"

    def _plan(self, **kwargs: Any) -> CallPlan:
        plan = CallPlan(index=len(self.plans), ms=self.rng.randrange(1000), **kwargs)
        self.plans.append(plan)
        return plan

    def _moment(self, day: date) -> datetime:
        midnight = datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)
        following = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        length = int((following.astimezone(UTC) - midnight).total_seconds())
        hour = self.rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        offset = min(hour * 3600 + self.rng.randrange(3600), length - 1)
        return midnight + timedelta(seconds=offset)

    # -- who calls ---------------------------------------------------------------------------

    def _inbound_client(self) -> UaNumber:
        roll = self.rng.random()
        if roll < 0.35 and self.crm.clients:
            weights = [c.weight for c in self.crm.clients]
            return self.rng.choices(self.crm.clients, weights=weights)[0].number
        if roll < 0.55 and self.seen_new:
            return self.rng.choice(self.seen_new)
        number = self.numbers.mobile()
        self.seen_new.append(number)
        return number

    def _outbound_client(self) -> UaNumber:
        roll = self.rng.random()
        if roll < 0.55 and self.crm.clients:
            return self.rng.choice(self.crm.clients).number
        if roll < 0.75 and self.seen_new:
            return self.rng.choice(self.seen_new)
        return self.numbers.mobile()  # a cold call: nobody in the CRM

    def _visitor(self, key: str) -> _Visitor:
        known = self.visitors.get(key)
        if known is not None and self.rng.random() < 0.7:
            return known  # a repeat caller comes back through the same ad most of the time
        utm = _weighted(self.rng, UTM_MIX)
        visitor = _Visitor(
            utm=utm,
            client_id=f"GA1.2.{self.rng.randrange(10**8, 10**9)}.{self.rng.randrange(1700000000, 1740000000)}"
            if utm[0]
            else "",
            term=self.rng.choice(("buy sofa", "corner sofa kyiv", "sofa shop", ""))
            if utm[1] == "cpc"
            else "",
            content=self.rng.choice(("ad_a", "ad_b", "video_1"))
            if utm[1] in ("cpc", "paid")
            else "",
        )
        self.visitors[key] = visitor
        return visitor

    def _attribution(self, key: str) -> Row:
        v = self._visitor(key)
        source, medium, campaign = v.utm
        query = (
            f"?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}" if campaign else ""
        )
        referrers = {"google": "https://www.google.com/", "facebook": "https://m.facebook.com/",
                     "instagram": "https://l.instagram.com/"}  # fmt: skip
        pools = {"cpc": "Google Ads", "paid": "Paid social", "social": "Social", "organic": "SEO"}
        return {
            "utm_source": source,
            "utm_medium": medium,
            "utm_campaign": campaign,
            "utm_term": v.term,
            "utm_content": v.content,
            "client_id": v.client_id,
            "remote_ip": f"93.{self.rng.randrange(70, 80)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
            if source
            else "",
            "landing": f"{SITE}/{self.rng.choice(('', 'sofas', 'kitchens', 'sale'))}{query}"
            if source
            else "",
            "refferrer": referrers.get(source, ""),
            "pool_name": pools.get(medium, "Default pool"),
        }

    def _answering(self, mapped_share: float = 0.94) -> tuple[Person | None, str, str, Row]:
        """Who took an inbound call: (employee or None, connected_with, employee_fio, extras)."""
        if self.rng.random() < mapped_share:
            agent = self.rng.choice(self.company.agents)
            roll = self.rng.random()
            if roll < 0.6:
                connected, number = agent.sip, agent.ringostat_id if self.rng.random() < 0.5 else ""
            elif roll < 0.9:
                connected, number = agent.mobile.digits, ""
            else:
                connected, number = "", agent.ringostat_id
            return agent, connected, agent.full_name, {"employee_number": number,
                                                       "department": agent.department}  # fmt: skip
        sip, label = self.rng.choice(UNMAPPED_SIPS)
        return None, sip, label, {"employee_number": "", "department": ""}

    # -- calls -------------------------------------------------------------------------------

    def inbound(self, day: date, call_type: str = "in", client: UaNumber | None = None) -> CallPlan:
        number = client or self._inbound_client()
        line = self.rng.choice(self.company.tracking_lines)
        roll = self.rng.random()
        outcome = "answered" if roll < 0.75 else ("missed" if roll < 0.95 else "voicemail")
        fields: Row = {
            "caller": number.wire_format(self.rng),
            "caller_number": number.digits if self.rng.random() < 0.9 else int(number.digits),
            "dst": line.digits,
            "scheme_name": "Main scheme",
            "call_card": "",
            "category_mark": "",
            "employee_mark": "",
            "additional_number": "",
            **self._attribution(number.key),
        }
        agent: Person | None = None
        connected = label = ""
        if outcome == "answered":
            agent, connected, label, extras = self._answering()
            fields.update(extras)
            waittime, billsec = self.rng.randint(3, 30), self._talk()
            disposition = "ANSWERED"
        elif outcome == "voicemail":
            connected, label = "", "Voicemail"
            fields.update({"employee_number": "", "department": ""})
            waittime, billsec = self.rng.randint(20, 30), self.rng.randint(6, 60)
            disposition = "VOICEMAIL"
        else:
            fields.update({"employee_number": "", "department": ""})
            waittime, billsec = self.rng.randint(5, 60), 0
            disposition = _spell(self.rng, _weighted(self.rng, MISSED_INBOUND))
        uid = self._uniqueid()
        fields["call_card"] = f"{CALL_CARDS}/{uid}"
        return self._plan(
            uniqueid=uid,
            start=self._moment(day),
            call_type=call_type,
            outcome=outcome,
            disposition=disposition,
            waittime=waittime,
            billsec=billsec,
            recording_delay=self._recording_delay(),
            fields=fields,
            employee=agent,
            employee_sip=connected,
            employee_label=label,
            client_key=number.key,
            has_recording=outcome != "missed",
        )

    def outbound(self, day: date) -> CallPlan:
        number = self._outbound_client()
        if self.rng.random() < 0.95:
            agent: Person | None = self.rng.choice(self.company.agents)
            assert agent is not None
            sip, label = agent.sip, agent.full_name
            caller = agent.sip_identity if self.rng.random() < 0.8 else agent.sip
        else:
            agent = None
            sip, label = UNMAPPED_SIPS[1][0], UNMAPPED_SIPS[1][1]
            caller = f'"" <{sip}>' if self.rng.random() < 0.5 else sip
        roll = self.rng.random()
        outcome = "answered" if roll < 0.68 else ("missed" if roll < 0.98 else "voicemail")
        disposition = {"answered": "ANSWERED", "voicemail": "VOICEMAIL"}.get(outcome) or _spell(
            self.rng, _weighted(self.rng, MISSED_OUTBOUND)
        )
        uid = self._uniqueid()
        fields: Row = {
            "caller": caller,
            "caller_number": "",
            "dst": number.wire_format(self.rng),
            "employee_number": sip if self.rng.random() < 0.5 else "",
            "department": agent.department if agent else "",
            "scheme_name": "Outgoing",
            "pool_name": "",
            "call_card": f"{CALL_CARDS}/{uid}",
        }
        plan = self._plan(
            uniqueid=uid,
            start=self._moment(day),
            call_type="out",
            outcome=outcome,
            disposition=disposition,
            waittime=self.rng.randint(3, 25),
            billsec=self._talk() if outcome == "answered" else (
                self.rng.randint(5, 20) if outcome == "voicemail" else 0),
            recording_delay=self._recording_delay(),
            fields=fields,
            employee=agent,
            employee_sip="",
            employee_label=label,
            client_key=number.key,
            has_recording=outcome != "missed",
        )  # fmt: skip
        if outcome == "missed":
            plan.waittime = self.rng.randint(10, 45)
        return plan

    def own_number(self, day: date) -> CallPlan:
        """A call from one of the company's own numbers (a tracking line or an agent's phone)."""
        person = self.rng.choice(self.company.agents)
        source = self.rng.choice((*self.company.tracking_lines, person.mobile, person.phone))
        return self.inbound(day, client=source)

    def transit(self, day: date) -> CallPlan:
        agent = self.rng.choice(self.company.agents)
        line = self.rng.choice(self.company.tracking_lines)
        call_type = self.rng.choice(("transitin", "transitout"))
        uid = self._uniqueid()
        return self._plan(
            uniqueid=uid,
            start=self._moment(day),
            call_type=call_type,
            outcome="answered",
            disposition="ANSWERED",
            waittime=self.rng.randint(2, 8),
            billsec=self.rng.randint(10, 120),
            recording_delay=self._recording_delay(),
            fields={"caller": line.digits, "dst": agent.sip, "caller_number": line.digits,
                    "employee_number": "", "department": agent.department,
                    "call_card": f"{CALL_CARDS}/{uid}"},
            employee=agent,
            employee_sip=agent.sip,
            employee_label=agent.full_name,
            has_recording=True,
        )  # fmt: skip

    def malformed(self, day: date, kind: str) -> CallPlan:
        plan = self.inbound(day)
        plan.malformed = kind
        if kind == "missing_uniqueid":
            # Absent on one row, empty on the next: both mean "no id".
            self.missing_ids += 1
            plan.uniqueid = None if self.missing_ids % 2 else ""
            plan.fields["call_card"] = ""
        elif kind == "bad_calldate":
            local = plan.start.astimezone(self.zone)
            fmt = self.rng.choice(("%d.%m.%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S"))
            plan.calldate_text = local.strftime(fmt)
        elif kind == "unknown_disposition":
            plan.disposition = self.rng.choice(("TRANSFERRED", "ANSWERED_BY_BOT"))
        else:
            caller = {
                "anonymous": "anonymous",
                "empty_caller": "",
                "sip_caller": '"Office" <office_sip>',
                "short_number": self.rng.choice(("102", "7001")),
            }[kind]
            plan.fields.update({"caller": caller, "caller_number": ""})
            plan.client_key = None
        return plan

    def _talk(self) -> int:
        return max(8, min(1800, int(self.rng.lognormvariate(4.6, 0.8))))

    def _recording_delay(self) -> int:
        if self.rng.random() < 0.05:
            # Late, but within Ringostat's usual delay and the default 120-minute lookback.
            return self.rng.randint(10 * 60, 60 * 60)
        return self.rng.randint(15, 90)

    # -- finishing touches -------------------------------------------------------------------

    def force_in_progress(self, day_plans: list[CallPlan], snapshot: datetime) -> None:
        """Make a few calls still ring or talk at ``snapshot`` and a few get late recordings.

        All of them start less than two hours before the snapshot, so a sync run at the snapshot
        followed by one with the default lookback (120 minutes) sees every update."""
        candidates = [
            p
            for p in day_plans
            if p.call_type in ("in", "callback") and p.malformed is None and p.client_key
        ]
        self.rng.shuffle(candidates)
        ringing, talking, late = candidates[:2], candidates[2:4], candidates[4:7]
        for plan in ringing:
            plan.start = snapshot - timedelta(seconds=self.rng.randint(2, 10))
            plan.waittime = max(plan.waittime, 25)
        for plan in talking:
            if plan.outcome == "missed":
                continue
            plan.start = snapshot - timedelta(seconds=self.rng.randint(40, 120))
            plan.waittime = self.rng.randint(5, 12)
            plan.billsec = max(plan.billsec, self.rng.randint(200, 600))
        for plan in late:
            if not plan.has_recording:
                continue
            # Over before the snapshot, recording after it: the next read (which re-reads the
            # default 120-minute lookback before its cursor) sees the recording as an update.
            plan.billsec = min(plan.billsec, 15 * 60)
            plan.start = snapshot - timedelta(seconds=self.rng.randint(40 * 60, 100 * 60))
            gap = int((snapshot - plan.end).total_seconds())
            plan.recording_delay = gap + self.rng.randint(5 * 60, 60 * 60)

    def mark_repeats(self) -> None:
        """PROPER/REPEATED flags and the call counter, in the order the calls happened."""
        counts: dict[str, int] = {}
        for plan in sorted(self.plans, key=lambda p: (p.start, p.index)):
            if plan.client_key is None or plan.call_type not in ("in", "callback"):
                plan.fields.update({"proper_flag": 0, "repeated_flag": 0, "call_counter": 1})
                continue
            counts[plan.client_key] = count = counts.get(plan.client_key, 0) + 1
            proper = count == 1 and plan.outcome == "answered"
            repeated = count > 1 and plan.outcome == "answered"
            plan.fields.update(
                {"proper_flag": int(proper), "repeated_flag": int(repeated), "call_counter": count}
            )
            if (
                plan.disposition == "ANSWERED"
                and plan.malformed is None
                and self.rng.random() < 0.5
            ):
                if proper:
                    plan.disposition = "PROPER"
                elif repeated:
                    plan.disposition = "REPEATED"
