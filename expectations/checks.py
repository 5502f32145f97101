"""The Great Expectations suites as the pipeline's checks (what the flows pass in).

One :class:`GxChecks` per run: one GX context (created on the first chunk that has calls to
check), every chunk validated against the phones and the assignment suites, and one Data Docs
site built from all of them when the run's writes are done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from expectations.assignment import SUITE as ASSIGNMENT
from expectations.assignment import validate_plans
from expectations.phones import SUITE as PHONES
from expectations.phones import validate_calls
from expectations.runner import GxRunner
from models.call import Call
from models.plan import CallPlan
from models.settings import Settings
from tasks.pipeline.checks import CheckResult
from tasks.pipeline.crm import People

log = logging.getLogger(__name__)


class GxChecks:
    """The phones and assignment suites, over each chunk of a run."""

    def __init__(self, settings: Settings, runner: GxRunner | None = None) -> None:
        self._settings = settings
        self.runner = runner or GxRunner(Path(settings.store.data_docs_dir))
        self._warming: threading.Thread | None = None

    def prepare(self) -> None:
        """Get GX ready in a thread while the run reads the CRM (its import is most of a small
        run's checking time); a validation that comes first waits for it (the runner's lock)."""
        if self._warming is None:
            self._warming = threading.Thread(
                target=self._warm, name="callsync-gx-warm-up", daemon=True
            )
            self._warming.start()

    def _warm(self) -> None:
        try:
            self.runner.prepare(PHONES, ASSIGNMENT)
        except Exception:  # the validation itself will raise, with its own context
            log.debug("getting Great Expectations ready failed", exc_info=True)

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
