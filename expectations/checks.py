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
from models.plan import CallPlan
from models.settings import Settings
from tasks.pipeline.checks import CheckResult
from tasks.pipeline.crm import People


class GxChecks:
    """The phones and assignment suites, over each chunk of a run."""

    def __init__(self, settings: Settings, runner: GxRunner | None = None) -> None:
        self._settings = settings
        self.runner = runner or GxRunner(Path(settings.store.data_docs_dir))

    def phones(self, calls: Sequence[Call]) -> CheckResult:
        outcome = validate_calls(self.runner, calls, self._settings)
        return CheckResult(outcome.success, outcome.failed)

    def plans(
        self, plans: Sequence[CallPlan], calls: Sequence[Call], people: People
    ) -> CheckResult:
        outcome = validate_plans(
            self.runner,
            plans,
            {c.uniqueid: c for c in calls},
            active_user_ids={u.id for u in people.users if u.active},
            top_manager_id=people.top_manager.id,
            settings=self._settings,
            hours=people.hours,
        )
        return CheckResult(outcome.success, outcome.failed)

    def build_docs(self) -> str:
        return str(self.runner.build_docs())
