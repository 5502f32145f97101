"""The Great Expectations suites as the pipeline's checks (what the flows pass in).

One :class:`GxChecks` per run: one GX context (created on the first chunk that has calls to
check), every chunk validated against the phones and the assignment suites, and one Data Docs
site built from all of them when the run's writes are done.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from expectations.assignment import validate_plans
from expectations.phones import validate_calls
from expectations.runner import GxRunner
from models.call import Call
from models.crm import ZohoUser
from models.plan import CallPlan
from models.settings import Settings
from tasks.pipeline.checks import CheckResult


class GxChecks:
    """The phones and assignment suites, over each chunk of a run."""

    def __init__(self, settings: Settings, runner: GxRunner | None = None) -> None:
        self._settings = settings
        self.runner = runner or GxRunner(Path(settings.store.data_docs_dir))

    def phones(self, calls: Sequence[Call]) -> CheckResult:
        outcome = validate_calls(self.runner, calls, self._settings)
        return CheckResult(outcome.success, outcome.failed)

    def plans(
        self,
        plans: Sequence[CallPlan],
        calls: Sequence[Call],
        users: Sequence[ZohoUser],
        top_manager: ZohoUser,
    ) -> CheckResult:
        outcome = validate_plans(
            self.runner,
            plans,
            {c.uniqueid: c for c in calls},
            active_user_ids={u.id for u in users if u.active},
            top_manager_id=top_manager.id,
            settings=self._settings,
        )
        return CheckResult(outcome.success, outcome.failed)

    def build_docs(self) -> str:
        return str(self.runner.build_docs())
