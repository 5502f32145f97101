"""Shared pytest configuration."""

import os

import pytest

# A step that failed on a transient error is retried by Prefect at once in tests (the default
# pauses are 10 s and 60 s); set before any test module imports tasks.steps.
os.environ.setdefault("CALLSYNC_STEP_RETRY_DELAYS_S", "0,0")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
