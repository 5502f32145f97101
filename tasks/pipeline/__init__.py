"""The pipeline: the stage sequence of a sync, once, free of Prefect, streamed in chunks.

- :mod:`.run` — :class:`Pipeline`: a window (``sync``, ``plan``) and a chunk (``process``,
  ``pickup_leads``), in that order of stages, with the checks, the stage runner, the logger and
  the after-write steps given to it;
- :mod:`.stages` — the stages themselves, plain batch-sized functions, by name;
- :mod:`.crm` — the CRM view (one protocol; the stored phone index, a snapshot) and the users;
- :mod:`.summary` — :class:`RunSummary`, the typed run summary that adds up;
- :mod:`.checks` — the checks' protocol (the flows pass Great Expectations);
- :mod:`.context` — the run's context: settings, state store, vendor clients;
- :mod:`.webhooks` — inbox events through the same stages (the receiver's processor).

Every caller drives this one sequence: the sync and backfill flows (each stage a Prefect task,
:mod:`tasks.steps`), the webhook receiver, the benchmarks and the tests.
"""

from tasks.pipeline.checks import NO_CHECKS, CheckResult, Checks
from tasks.pipeline.context import RunContext, open_context
from tasks.pipeline.crm import CrmView, People, SnapshotCrm, StoredCrm
from tasks.pipeline.run import CURSOR_NAME, Pipeline, run_plainly
from tasks.pipeline.summary import RunSummary

__all__ = [
    "CURSOR_NAME",
    "NO_CHECKS",
    "CheckResult",
    "Checks",
    "CrmView",
    "People",
    "Pipeline",
    "RunContext",
    "RunSummary",
    "SnapshotCrm",
    "StoredCrm",
    "open_context",
    "run_plainly",
]
