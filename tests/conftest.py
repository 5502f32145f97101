"""Shared pytest configuration."""

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import prefect_session
from tests.support.databases import BACKENDS, store_database
from tests.support.processes import prefect_test_settings

# Prefect keeps its files (profiles, local results, analytics markers) in PREFECT_HOME: a test
# session uses a temporary one, never ~/.prefect, and never a server the developer configured.
# Set before any test module imports Prefect (its settings are read at import).
_PREFECT_HOME = tempfile.mkdtemp(prefix="callsync-tests-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, True)
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
for _name in ("PREFECT_API_URL", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
    os.environ.pop(_name, None)

# Prefect's poll loops shortened and its clients' TLS bundle cut to one certificate
# (tests/support/processes.py): cheaper, not different.
os.environ.update(prefect_test_settings(Path(_PREFECT_HOME)))

# A step that failed on a transient error is retried by Prefect at once in tests (the default
# pauses are 10 s and 60 s); set before any test module imports tasks.steps.
os.environ.setdefault("CALLSYNC_STEP_RETRY_DELAYS_S", "0,0")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty state store's URL: a SQLite file, then a PostgreSQL database of its own
    (skipped without a server, see tests/support/databases.py)."""
    with store_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _stop_installation_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A callsync command run by a test without PREFECT_API_URL starts its installation's Prefect
    server beside the test's state store and leaves it running, as the product does: stop every
    such server under this session's temporary directory when the session ends."""
    yield
    from flows.runtime.prefect_server import RECORD_NAME, InstallationServer

    for record in tmp_path_factory.getbasetemp().rglob(RECORD_NAME):
        InstallationServer(record.parent).stop()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist's controller, per worker: the run's one Prefect server."""
    prefect_session.assign_home(node)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's controller: one test per unit, some modules whole."""
    from tests.support.xdist_schedule import make_scheduler

    return make_scheduler(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    prefect_session.stop_shared(config)
