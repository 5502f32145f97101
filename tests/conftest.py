"""Shared pytest configuration."""

import atexit
import os
import shutil
import tempfile

import pytest

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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
