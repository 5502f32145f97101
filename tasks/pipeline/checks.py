"""The checks a chunk of calls passes through, passed into the pipeline.

The pipeline checks the parsed calls (phone normalization) and the plans (assignment) between
its stages; *how* is given to it: the flows pass the Great Expectations suites
(:class:`expectations.checks.GxChecks`), the webhook receiver and tests that need no Data Docs
pass :data:`NO_CHECKS`. A failed check quarantines the calls it names, with the check's name as
the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from models.call import Call
from models.plan import CallPlan

if TYPE_CHECKING:
    from tasks.pipeline.crm import People


@dataclass(frozen=True)
class CheckResult:
    """Whether the suite passed, and which calls failed it: uniqueid → expectation name."""

    success: bool = True
    failed: Mapping[str, str] = field(default_factory=dict)


PASSED = CheckResult()


class Checks(Protocol):
    def prepare(self) -> None:
        """The run has calls to check: get ready (in the background) while it reads the CRM."""
        ...

    def phones(self, calls: Sequence[Call]) -> CheckResult:
        """The parsed calls and their normalized client numbers."""
        ...

    def plans(
        self, plans: Sequence[CallPlan], calls: Sequence[Call], people: People
    ) -> CheckResult:
        """Who owns the planned writes, and what they say (``people``: the users, the TOP
        manager and the working hours the planner was given)."""
        ...

    def build_docs(self) -> str | None:
        """Render what was checked (Data Docs); the path or address, None when nothing."""
        ...


class NoChecks:
    """Nothing checked: every call passes (the receiver's path, tests of other concerns)."""

    def prepare(self) -> None:
        return None

    def phones(self, calls: Sequence[Call]) -> CheckResult:
        return PASSED

    def plans(
        self, plans: Sequence[CallPlan], calls: Sequence[Call], people: People
    ) -> CheckResult:
        return PASSED

    def build_docs(self) -> str | None:
        return None


NO_CHECKS = NoChecks()
