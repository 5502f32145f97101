"""Who owns a planned lead or task, and when an open task is due. Pure, no clock.

One place for every writer of call-back tasks: the planner asks it for each matrix row's
owners and deadlines, and so can whatever merges call-backs into one open task or reassigns
one — build an :class:`Assigner` with :meth:`Assigner.build` and ask :meth:`Assigner.owner`
and :meth:`Assigner.deadline`.

Owner rules (``[scenario.rows.N]`` ``owner`` / ``lead_owner``):

- ``top``: the TOP manager;
- ``employee``: the call's mapped employee; an unmapped one → TOP (whose task names the
  SIP/number that took the call);
- ``responsible``: the owner of the client's record when that user is active in Zoho, else TOP
  (an inactive user can own nothing new; see ``scenario.inactive_owner`` for the record itself);
- ``rotation``: the ``[scenario.rotation] employees`` in turn. At the moment the call ended the
  turn goes to the next one who is active and inside their working hours (their own shift when
  ``[scenario.rotation.shifts."<user>"]`` gives one, else the company's working hours); when
  nobody is, to the one whose working time starts first (ties: the turn's order). Nobody
  active in the list → TOP. One call's lead and tasks go to one person (the turn moves once
  per call). The turn (:class:`models.plan.RotationTurn`) is taken in and handed back, so the
  caller can keep it between runs.

Deadline: the call's end + ``scenario.open_task_due_hours`` *working* hours
(:func:`tasks.scenario.hours.add_working_time`): a reminder at the deadline never fires outside
working hours, and ``Due_Date`` is the deadline's local date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from models.crm import ZohoUser
from models.hours import WorkingHours
from models.plan import RotationTurn
from models.settings import OwnerRule, ScenarioSettings
from tasks.employees import find_user
from tasks.scenario.hours import add_working_time, from_settings, next_working_moment


@dataclass(frozen=True, slots=True)
class Member:
    """One employee of the rotation and the hours they work."""

    user: ZohoUser
    hours: WorkingHours


@dataclass
class Assigner:
    """Owners and deadlines for one planning run (see the module doc)."""

    top: ZohoUser
    active_ids: frozenset[str]
    hours: WorkingHours
    tz: ZoneInfo
    due: timedelta
    members: tuple[Member, ...] = ()
    turn: RotationTurn = field(default_factory=RotationTurn)
    _picked: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        scenario: ScenarioSettings,
        users: Sequence[ZohoUser],
        top: ZohoUser,
        hours: WorkingHours,
        turn: RotationTurn | None = None,
    ) -> Assigner:
        """``hours``: the working hours in force (:func:`tasks.scenario.hours.effective_hours`);
        ``turn``: the rotation's turn as the last run left it."""
        shifts = {k.strip().lower(): v for k, v in scenario.rotation.shifts.items()}
        members: list[Member] = []
        for ident in scenario.rotation.employees:
            user = find_user(ident, users)
            if user is None or not user.active or any(m.user.id == user.id for m in members):
                continue
            shift = shifts.get(ident.strip().lower())
            members.append(Member(user, from_settings(shift) if shift is not None else hours))
        return cls(
            top=top,
            active_ids=frozenset(u.id for u in users if u.active),
            hours=hours,
            tz=ZoneInfo(scenario.company_timezone),
            due=timedelta(hours=scenario.open_task_due_hours),
            members=tuple(members),
            turn=turn or RotationTurn(),
        )

    def deadline(self, ended_at: datetime) -> datetime:
        """When an open task for a call that ended at ``ended_at`` is due."""
        return add_working_time(ended_at, self.due, self.hours, self.tz)

    def is_active(self, user_id: str | None) -> bool:
        return user_id is not None and user_id in self.active_ids

    def owner(
        self,
        rule: OwnerRule,
        *,
        employee: ZohoUser | None,
        responsible_id: str | None,
        call_id: str,
        at: datetime,
    ) -> str:
        """The Zoho user id that owns a lead or task of the call ``call_id`` ended at ``at``."""
        if rule == "employee" and employee is not None:
            return employee.id
        if rule == "responsible" and self.is_active(responsible_id):
            assert responsible_id is not None
            return responsible_id
        if rule == "rotation":
            return self._rotate(call_id, at)
        return self.top.id

    def _rotate(self, call_id: str, at: datetime) -> str:
        picked = self._picked.get(call_id)
        if picked is not None:
            return picked
        if not self.members:
            return self.top.id
        ids = [m.user.id for m in self.members]
        start = ids.index(self.turn.last_user_id) + 1 if self.turn.last_user_id in ids else 0
        order = [self.members[(start + i) % len(ids)] for i in range(len(ids))]
        # Who can start soonest: now, if on shift; the first in turn wins a tie.
        _, _, chosen = min(
            (next_working_moment(at, m.hours, self.tz), i, m) for i, m in enumerate(order)
        )
        self.turn = RotationTurn(last_user_id=chosen.user.id)
        self._picked[call_id] = chosen.user.id
        return chosen.user.id
