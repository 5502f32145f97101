"""Ringostat call-log emulator (``GET /calls/list`` plus an admin API under ``/__emulator__``)."""

from emulators.ringostat.app import create_app
from emulators.ringostat.state import RingostatState

__all__ = ["RingostatState", "create_app"]
