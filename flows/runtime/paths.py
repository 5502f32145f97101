"""Default places on disk that more than one command knows about."""

from __future__ import annotations

from pathlib import Path

DEMO_WORKDIR = Path(".callsync/demo")
"""Where ``callsync demo`` keeps its config, state, reports and Data Docs unless told otherwise
(relative to the current directory); ``callsync report`` without a config looks there."""
