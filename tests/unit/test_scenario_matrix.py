"""SPEC section 6, row by row: call, client, employee → what is written to Zoho.

One table. Each case names the SPEC row it mirrors; "any" rows have a case per kind of employee
where that matters. E = Anna (mapped), R = Petro (owner of the existing Lead L-1), TOP = Olena,
"ghost_sip" = an unmapped SIP login. Every call lasts 90 s from 10:00:00 Kyiv and has a recording.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

import pytest
from scenario_world import ANNA, END, KNOWN, NEW, PETRO, TOP, call, lead, plan_one

from models.plan import PlanStatus

E, R = ANNA.id, PETRO.id
DEADLINE = END + timedelta(hours=4)
REC = "https://rec.example/c1.mp3"


class W(NamedTuple):
    """One expected write: module, sync-key slot, owner, task status (None for a lead), open?"""

    module: str
    slot: str
    owner: str
    status: str | None = None
    subject: str = ""


LEAD_E = W("Leads", "lead", E)
LEAD_TOP = W("Leads", "lead", TOP.id)


def log(owner: str, subject: str = "") -> W:
    return W("Tasks", "task", owner, "Completed", subject)


def open_(owner: str, subject: str = "", slot: str = "task") -> W:
    return W("Tasks", slot, owner, "Not Started", subject)


class Case(NamedTuple):
    row: int
    direction: str
    disposition: str
    client: str  # "new" or "existing"
    employee: str | None  # connected_with (inbound) / SIP login (outbound); None = nobody
    writes: tuple[W, ...]
    reason: str | None = None


MATRIX = [
    # 1 inbound answered, new, mapped E → Lead (Owner E, UTM) + log task on the lead, Owner E
    Case(1, "in", "ANSWERED", "new", "anna_sip", (LEAD_E, log(E, "Inbound call from"))),
    # 2 inbound answered, new, unmapped → Lead (TOP) + open task (TOP) naming the SIP (decided)
    Case(2, "in", "ANSWERED", "new", "ghost_sip", (LEAD_TOP, open_(TOP.id, "ghost_sip"))),
    Case(2, "in", "PROPER", "new", None, (LEAD_TOP, open_(TOP.id, "unmapped"))),
    # 3 inbound answered, existing, E = R → log task on the record, Owner R
    Case(3, "in", "ANSWERED", "existing", "petro_sip", (log(R),)),
    Case(3, "callback", "REPEATED", "existing", "202", (log(R),)),
    # 4 inbound answered, existing, E ≠ R → log task Owner E + open task Owner R, deadline 4 h
    Case(
        4,
        "in",
        "ANSWERED",
        "existing",
        "anna_sip",
        (log(E), open_(R, "talked to Anna Ivanova", "task-responsible")),
    ),
    # 5 inbound answered, existing, unmapped → open task Owner TOP naming the SIP/number
    Case(5, "in", "ANSWERED", "existing", "ghost_sip", (open_(TOP.id, "ghost_sip"),)),
    # 6 inbound missed, new, any → Lead (TOP, UTM) + open "call back" task, Owner TOP
    Case(6, "in", "NO ANSWER", "new", None, (LEAD_TOP, open_(TOP.id, "Call back"))),
    Case(6, "in", "BUSY", "new", "anna_sip", (LEAD_TOP, open_(TOP.id, "Call back"))),
    # 7 inbound missed, existing, any → open "contact the customer" task, Owner TOP
    Case(7, "in", "NO ANSWER", "existing", None, (open_(TOP.id, "Contact the customer"),)),
    Case(7, "in", "DECLINE", "existing", "petro_sip", (open_(TOP.id, "Contact the customer"),)),
    # 8 inbound voicemail, new, any → Lead (TOP, UTM) + open task with the voicemail link, TOP
    Case(8, "in", "VOICEMAIL", "new", None, (LEAD_TOP, open_(TOP.id, "Voicemail"))),
    # 9 inbound voicemail, existing, any → open task with the voicemail link, Owner TOP
    Case(9, "in", "VOICEMAIL", "existing", "anna_sip", (open_(TOP.id, "Voicemail"),)),
    # 10 outbound answered, new, any → nothing (outbound_no_entity)
    Case(10, "out", "ANSWERED", "new", "anna_sip", (), "outbound_no_entity"),
    Case(10, "out", "ANSWERED", "new", "ghost_sip", (), "outbound_no_entity"),
    # 11 outbound answered, existing, mapped E → log task on the record, Owner E
    Case(11, "out", "ANSWERED", "existing", "anna_sip", (log(E, "Outbound call to"),)),
    Case(11, "out", "ANSWERED", "existing", "petro_sip", (log(R, "Outbound call to"),)),
    # 12 outbound answered, existing, unmapped → open task Owner TOP naming the SIP (decided)
    Case(12, "out", "ANSWERED", "existing", "ghost_sip", (open_(TOP.id, "ghost_sip"),)),
    # 13 outbound missed or voicemail, any → nothing (outbound_not_answered)
    Case(13, "out", "NO ANSWER", "existing", "anna_sip", (), "outbound_not_answered"),
    Case(13, "out", "BUSY", "existing", "ghost_sip", (), "outbound_not_answered"),
    Case(13, "out", "VOICEMAIL", "new", "anna_sip", (), "outbound_not_answered"),
    Case(13, "out", "CLIENT NO ANSWER", "new", None, (), "outbound_not_answered"),
]


@pytest.mark.parametrize(
    "case",
    MATRIX,
    ids=[f"row{c.row}-{c.direction}-{c.disposition}-{c.client}-{c.employee}" for c in MATRIX],
)
def test_default_matrix(case: Case) -> None:
    number = NEW if case.client == "new" else KNOWN
    c = call(
        "c1",
        direction=case.direction,
        disposition=case.disposition,
        client=number,
        employee=case.employee,
        recording=REC,
        utm_source="google",
        utm_medium="cpc",
    )
    p = plan_one(c, [lead("L-1", KNOWN, owner=PETRO.id)])

    assert p.row == case.row
    assert p.client_status == case.client
    assert p.reason == case.reason
    assert p.status is (PlanStatus.SKIPPED if case.reason else PlanStatus.PLANNED)
    got = [
        (w.module, w.sync_key.removeprefix("c1/"), w.owner_id, w.fields.get("Status"))
        for w in p.writes
    ]
    assert got == [(w.module, w.slot, w.owner, w.status) for w in case.writes]

    for write, expected in zip(p.writes, case.writes, strict=True):
        assert write.fields["Owner"] == {"id": expected.owner}
        if write.module == "Leads":
            assert write.fields["Phone"] == NEW
            assert write.fields["rs_utm_source"] == "google"
            assert write.fields["rs_utm_medium"] == "cpc"
            continue
        # every task: on the record the call is attached to, with the recording/voicemail link
        if case.client == "new":
            assert write.links == {"What_Id": "c1/lead"}
            assert write.fields["$se_module"] == "Leads" and "What_Id" not in write.fields
        else:
            assert write.fields["What_Id"] == {"id": "L-1"}
            assert write.fields["$se_module"] == "Leads" and not write.links
        label = "Voicemail" if case.disposition == "VOICEMAIL" else "Recording"
        assert f"{label}: {REC}" in write.fields["Description"]
        assert expected.subject in write.fields["Subject"]
        if expected.status == "Not Started":  # open task: deadline call end + 4 h
            assert write.due_at == DEADLINE
            assert write.kind == "open_task"
            assert write.fields["Remind_At"] == {
                "ALARM": "FREQ=NONE;ACTION=POPUP;TRIGGER=DATE-TIME:2026-01-18T14:01:30+02:00"
            }
        else:
            assert write.due_at is None and write.kind == "log_task"
            assert "Remind_At" not in write.fields
        assert write.fields["Due_Date"] == "2026-01-18"
        if case.employee == "ghost_sip":  # TOP sees what answered/placed the call
            assert "ghost_sip" in write.fields["Description"]


def test_matrix_table_covers_all_thirteen_rows() -> None:
    assert {c.row for c in MATRIX} == set(range(1, 14))
