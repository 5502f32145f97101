"""Fixtures shared by the Zoho emulator tests: a fixed clock and an emulator app on it.

A module that needs another app (e.g. with a fake latency sleep) overrides ``app``.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.support.zoho_harness import FakeClock, make_app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> FastAPI:
    return make_app(clock)
