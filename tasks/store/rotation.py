"""The call-back rotation's turn (``rotation_turns``): read before planning, saved after.

The planner takes a :class:`models.plan.RotationTurn` in and hands the new one back
(``tasks.scenario.plan_batch``); this keeps it between runs. Two processes plan call-backs (the
log sync and the webhook receiver): :meth:`RotationMixin.save_rotation_turn` with ``expected``
saves only when nobody moved the turn since it was read, so a caller that lost the race can
read the turn again and re-plan instead of giving two call-backs to one person.
"""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from models.plan import RotationTurn
from models.tables import RotationRecord
from tasks.store.base import StoreBase

DEFAULT_ROTATION = "callbacks"


class RotationMixin(StoreBase):
    """The ``rotation_turns`` table."""

    def rotation_turn(self, name: str = DEFAULT_ROTATION) -> RotationTurn:
        """The turn as last saved; a rotation never saved starts at its first employee."""
        with self._tx() as session:
            rec = session.get(RotationRecord, name)
            return RotationTurn(last_user_id=None if rec is None else rec.last_user_id)

    def save_rotation_turn(
        self,
        turn: RotationTurn,
        *,
        name: str = DEFAULT_ROTATION,
        expected: RotationTurn | None = None,
    ) -> bool:
        """Keep ``turn``. With ``expected`` (the turn the planning started from), only when the
        stored turn is still that one; False when another process moved it meanwhile."""
        now = self._now()
        with self._tx() as session:
            if session.get(RotationRecord, name) is None:
                try:
                    with session.begin_nested():
                        session.connection().execute(
                            insert(RotationRecord).values(name=name, last_user_id=None)
                        )
                except IntegrityError:
                    pass  # another process created it first
            stmt = (
                update(RotationRecord)
                .where(col(RotationRecord.name) == name)
                .values(last_user_id=turn.last_user_id, updated_at=now)
            )
            if expected is not None:
                stmt = stmt.where(
                    col(RotationRecord.last_user_id).is_not_distinct_from(expected.last_user_id)
                )
            return session.connection().execute(stmt).rowcount == 1
