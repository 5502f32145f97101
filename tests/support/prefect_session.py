"""The test run's one Prefect server, shared by every pytest-xdist worker.

Without xdist the flow tests' session fixture starts a server in the session's temporary
directory and stops it at the end. Under xdist every worker is its own session: instead of one
server start per worker, the controller picks one home for the run, starts the server there in
the background while the workers collect (when the flow tests are in the run), and hands the home
to every worker (``workerinput``). A worker's fixture then finds that server through its record
and lock (:class:`~flows.runtime.prefect_server.InstallationServer`: whoever comes first starts
it, the others wait for it and reuse it), and the controller stops it when the run ends.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flows.runtime.prefect_server import LocalPrefectServer

WORKERINPUT_KEY = "callsync_prefect_home"
FLOW_TESTS = Path(__file__).resolve().parents[1] / "flows"

_HOME = pytest.StashKey[Path]()
_STARTER = pytest.StashKey[threading.Thread]()


def _selects_flow_tests(config: pytest.Config) -> bool:
    """Whether the run's paths (or the default ``testpaths``) include the flow tests."""
    args = config.args or [str(config.rootpath / p) for p in config.getini("testpaths")]
    for arg in args:
        path = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
        if path == FLOW_TESTS or path in FLOW_TESTS.parents or FLOW_TESTS in path.parents:
            return True
    return False


def assign_home(node: Any) -> None:
    """On the controller, for each worker: the run's Prefect home, picked (and the server
    started in the background) at the first worker."""
    config: pytest.Config = node.config
    if _HOME not in config.stash:
        from flows.runtime.prefect_server import LocalPrefectServer

        home = Path(tempfile.mkdtemp(prefix="callsync-tests-prefect-server-"))
        config.stash[_HOME] = home
        if _selects_flow_tests(config):
            starter = threading.Thread(target=_start, args=(LocalPrefectServer(home),), daemon=True)
            starter.start()
            config.stash[_STARTER] = starter
    node.workerinput[WORKERINPUT_KEY] = str(config.stash[_HOME])


def _start(server: LocalPrefectServer) -> None:
    from flows.runtime.prefect_server import PrefectServerError

    # If it fails, the first worker that needs the server starts it again and says why it failed.
    with contextlib.suppress(PrefectServerError):
        server.start()


def worker_home(config: pytest.Config) -> Path | None:
    """On a worker: the run's shared Prefect home; None without xdist."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    home = workerinput.get(WORKERINPUT_KEY)
    return None if home is None else Path(home)


def stop_shared(config: pytest.Config) -> None:
    """On the controller, at the end of the run: stop the shared server, remove its home."""
    home = config.stash.get(_HOME, None)
    if home is None:
        return
    from flows.runtime.prefect_server import InstallationServer

    starter = config.stash.get(_STARTER, None)
    if starter is not None:
        starter.join()
    InstallationServer(home).stop()
    shutil.rmtree(home, ignore_errors=True)
