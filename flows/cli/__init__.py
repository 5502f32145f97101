"""The ``callsync`` command line (``app``), its one-line errors, pre-flight checks and output."""

from flows.cli.app import app

__all__ = ["app"]
