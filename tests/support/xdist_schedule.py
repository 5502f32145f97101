"""How pytest-xdist spreads the suite over its workers (``./run test`` runs ``-n auto``).

Every test is a unit of its own, handed to whichever worker is free (as ``--dist load`` does), so
a slow test never holds back a queue of quick ones behind it. The modules in
:data:`ONE_WORKER_MODULES` are the exception: one worker runs each of them whole, in file order.
They come first (the largest units go first), so their long tests overlap with everything else.

Why not ``--dist loadgroup`` and ``xdist_group`` marks: pytest-xdist 3.8 tells the controller a
test's group by rewriting the test's node id, which pytest 9.2 no longer reads (the groups are
silently ignored; pytest-xdist issue 1386). The controller sees node ids only, so the modules are
named here.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScopeScheduling

ONE_WORKER_MODULES = {
    # Its tests register the same deployments (and work pool) on the run's one Prefect server:
    # run side by side, one would run or retry the other's deployment.
    "tests/flows/test_serve_deploy.py": "the same deployments on one Prefect server",
}


class OneTestOrWholeModule(LoadScopeScheduling):
    """``--dist load`` with the modules of :data:`ONE_WORKER_MODULES` kept whole."""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return module if module in ONE_WORKER_MODULES else nodeid


def make_scheduler(config: Any, log: Any) -> OneTestOrWholeModule | None:
    """The scheduler for ``--dist load`` (``-n`` alone); xdist's own for any other mode."""
    if config.getvalue("dist") != "load":
        return None
    return OneTestOrWholeModule(config, log)
