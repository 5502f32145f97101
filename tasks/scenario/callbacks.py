"""Call-backs that finish themselves (decided): one open call-back per client, completed when
the client is reached. Pure: the open call-backs come in through the snapshot
(:attr:`models.crm.CrmSnapshot.callbacks`, the state store's copy, re-read from Zoho before the
chunk was planned) and this run's planning (:attr:`PlannerMemory.callbacks`).

A *call-back* is the open task a missed call or a voicemail gets (matrix rows 6–9; with a row
override, the first open task of those rows). Per call:

- rows 6–9, ``scenario.merge_callbacks`` on, and the client (same phone key, same client under
  the country guard) has an open call-back: the call's task slot becomes an *update* of that
  task's ``Description``, which gains a line ``Call <n>: <outcome> at <time> (<disposition>)``
  and the voicemail link when there is one. No new task. The newest open call-back is taken when
  there are several (written before merging was on, or while it was off);
- rows 6–9 otherwise: the task is inserted as the matrix says, and it is the client's open
  call-back from now on;
- an answered call, inbound or outbound, with ``scenario.complete_callbacks`` on, for a client
  with open call-backs opened before this call: each is set to ``Completed`` with a line
  ``Reached by <employee> at <time>`` (keys ``<uniqueid>/callback-done``, ``-2``, ...);
- calls handled out of order (a lost after-call webhook healed by the log sync, the two paths at
  different speeds): a missed call whose client an answered call *after* it already reached
  (:attr:`models.crm.CrmSnapshot.reached`) gets its call-back task written completed, with the
  same line — what handling the calls in time order would have left.

Every such write carries a :class:`models.plan.CallbackNote`: the state store follows it when
Zoho accepted the write (:mod:`tasks.store.callbacks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from models.call import Call, Outcome
from models.crm import CrmSnapshot, OpenCallback, ReachedCall, ZohoUser
from models.plan import CallbackNote, PlannedWrite
from models.settings import ScenarioSettings
from models.sync_key import sync_key
from tasks.phones import same_client
from tasks.scenario.records import local

CALLBACK_ROWS = frozenset({6, 7, 8, 9})
"""The matrix rows whose open task is a call-back (missed calls and voicemails)."""
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Loop:
    """The call-backs planning knows: the store's (``known``) and this run's (``memory``, which
    this object updates as calls open, extend and complete call-backs)."""

    scenario: ScenarioSettings
    crm: CrmSnapshot
    memory: dict[str, list[OpenCallback]]
    tz: ZoneInfo

    def _all(self, key: str) -> list[OpenCallback]:
        current = self.memory.get(key)
        return list(self.crm.callbacks.get(key, ())) if current is None else list(current)

    def _reached_after(self, call: Call) -> ReachedCall | None:
        """The first answered call with the client after ``call`` that callsync handled
        already (out of order: a lost webhook, the two paths at different speeds)."""
        strict = self.scenario.strict_country_match
        return next(
            (
                r
                for r in self.crm.reached.get(call.client.key, ())
                if r.started_at > call.started_at
                and same_client(call.client, r.phone, strict_country=strict)
            ),
            None,
        )

    def _who(self, user_id: str | None, label: str | None) -> str:
        user = self.crm.user(user_id) if user_id else None
        if user is not None:
            return user.full_name
        if label:
            return f"{label} (not in the employee map)"
        return "an employee Ringostat did not name"

    def open_for(self, call: Call) -> list[OpenCallback]:
        """The client's open call-backs, oldest first."""
        strict = self.scenario.strict_country_match
        return [
            cb
            for cb in self._all(call.client.key)
            if same_client(call.client, cb.phone, strict_country=strict)
        ]

    def _replace(self, key: str, old: Sequence[OpenCallback], new: Sequence[OpenCallback]) -> None:
        gone = {cb.task_key for cb in old}
        self.memory[key] = [cb for cb in self._all(key) if cb.task_key not in gone] + list(new)

    def merge_target(self, call: Call) -> OpenCallback | None:
        """The open call-back a missed call or voicemail is merged into (the client's newest),
        or None: the call gets its own call-back task."""
        if not self.scenario.merge_callbacks:
            return None
        current = self.open_for(call)
        return current[-1] if current else None

    def merge(self, call: Call, key: str, target: OpenCallback) -> PlannedWrite:
        """The update adding the call's line to ``target`` (keyed ``key``: the call's slot)."""
        count = target.calls + 1
        text = target.description + "\n" + merge_line(call, count, self.tz)
        self._replace(call.client.key, [target], [replace(target, description=text, calls=count)])
        return PlannedWrite(
            sync_key=key,
            module="Tasks",
            op="update",
            fields={"Description": text},
            owner_id=target.owner_id,
            record_id=target.task_id,
            links={} if target.task_id else {"id": target.task_key},
            kind="callback_merge",
            callback=CallbackNote(
                "merge",
                target.task_key,
                call.client,
                call.uniqueid,
                call.started_at,
                text,
                target.owner_id,
            ),
        )

    def open(self, call: Call, insert: PlannedWrite) -> PlannedWrite:
        """A new call-back task: from now on the client's open call-back — or, when the client
        was reached after this call by a call callsync handled first, completed at once."""
        text = str(insert.fields.get("Description") or "")
        reached = self._reached_after(call) if self.scenario.complete_callbacks else None
        if reached is not None:
            return self._open_reached(call, insert, text, reached)
        opened = OpenCallback(
            phone=call.client,
            task_key=insert.sync_key,
            task_id=None,
            owner_id=insert.owner_id,
            description=text,
            calls=1,
            opened_at=call.started_at,
        )
        self._replace(call.client.key, [], [opened])
        note = CallbackNote(
            "open",
            insert.sync_key,
            call.client,
            call.uniqueid,
            call.started_at,
            text,
            insert.owner_id,
        )
        return replace(insert, callback=note)

    def _open_reached(
        self, call: Call, insert: PlannedWrite, text: str, reached: ReachedCall
    ) -> PlannedWrite:
        who = self._who(reached.employee_id, reached.employee_label)
        done = text + "\n" + reached_line(who, reached.started_at, self.tz)
        # The task as the calls in time order would have left it: written open (deadline and
        # reminder included), then completed.
        fields = {**insert.fields, "Status": "Completed", "Description": done}
        user = self.crm.user(reached.employee_id) if reached.employee_id else None
        note = CallbackNote(
            "open",
            insert.sync_key,
            call.client,
            call.uniqueid,
            call.started_at,
            done,
            insert.owner_id,
            by_user_id=user.id if user is not None else None,
            by_name=who,
            reached_call=reached.uniqueid,
            reached_at=reached.started_at,
        )
        return replace(insert, fields=fields, kind="callback_reached", callback=note)

    def complete(self, call: Call, employee: ZohoUser | None) -> list[PlannedWrite]:
        """Completions of the client's call-backs opened before this answered call."""
        reached = [cb for cb in self.open_for(call) if cb.opened_at < call.started_at]
        if not reached:
            return []
        who = employee.full_name if employee is not None else _unmapped(call)
        line = reached_line(who, call.started_at, self.tz)
        writes = []
        for n, cb in enumerate(reached, start=1):
            text = cb.description + "\n" + line
            slot = "callback-done" if n == 1 else f"callback-done-{n}"
            writes.append(
                PlannedWrite(
                    sync_key=sync_key(call.uniqueid, slot),
                    module="Tasks",
                    op="update",
                    fields={"Status": "Completed", "Description": text},
                    owner_id=cb.owner_id,
                    record_id=cb.task_id,
                    links={} if cb.task_id else {"id": cb.task_key},
                    kind="callback_done",
                    callback=CallbackNote(
                        "complete",
                        cb.task_key,
                        call.client,
                        call.uniqueid,
                        call.started_at,
                        text,
                        cb.owner_id,
                        by_user_id=employee.id if employee is not None else None,
                        by_name=who,
                    ),
                )
            )
        self._replace(call.client.key, reached, [])
        return writes


def _unmapped(call: Call) -> str:
    if call.employee_label:
        return f"{call.employee_label} (not in the employee map)"
    return "an employee Ringostat did not name"


def reached_line(who: str, at: datetime, tz: ZoneInfo) -> str:
    """The line a completed call-back gains."""
    return f"Reached by {who} at {local(at, tz).strftime(TIME_FORMAT)}"


def merge_line(call: Call, count: int, tz: ZoneInfo) -> str:
    """The line a further missed call or voicemail adds to the open call-back."""
    what = "voicemail" if call.outcome is Outcome.VOICEMAIL else "missed call"
    line = f"Call {count}: {what} at {local(call.started_at, tz).strftime(TIME_FORMAT)}"
    line += f" ({call.disposition})"
    if call.outcome is Outcome.VOICEMAIL and call.recording_url:
        line += f", voicemail: {call.recording_url}"
    return line


def completions(call: Call, row: int, employee: ZohoUser | None, loop: Loop) -> list[PlannedWrite]:
    """The updates completing the client's call-backs when this call reached the client."""
    if row in CALLBACK_ROWS or call.outcome is not Outcome.ANSWERED:
        return []
    if not loop.scenario.complete_callbacks:
        return []
    return loop.complete(call, employee)


def with_recording(call: Call, current: str, written: str, rewritten: str) -> str | None:
    """A call-back's description once a call's recording appeared late: the part the call
    ``written`` (its own description, or its merged line) replaced by ``rewritten``, the lines
    other calls added kept. None when that part is no longer there (edited in Zoho) or nothing
    changes."""
    if not written or written not in current or written == rewritten:
        return None
    return current.replace(written, rewritten, 1)


def merged_line_with_voicemail(call: Call, line: str) -> str:
    """A merged line (see :func:`merge_line`) with the voicemail link that arrived late."""
    if call.outcome is not Outcome.VOICEMAIL or not call.recording_url or "voicemail: " in line:
        return line
    return f"{line}, voicemail: {call.recording_url}"
