"""The one place that imports Great Expectations.

Why a module of its own:

- GX 1.x takes seconds to import (it pulls in scipy, altair, sqlalchemy...). Importing it lazily,
  on the first validation, keeps ``callsync --help`` and the reporting commands fast.
- GX's ``file_path_data_connector`` imports the stdlib modules ``sre_constants``/``sre_parse``,
  which emit a ``DeprecationWarning`` on Python 3.11+. That warning is GX's, not ours, and with
  ``filterwarnings = error`` it would abort the import. It is ignored *only* around the import
  (``warnings.catch_warnings`` restores every filter afterwards); nothing is silenced globally.

Everything else in :mod:`expectations` gets GX through :func:`load_gx` — import it the same way
anywhere else, or the first plain ``import great_expectations`` pays for (and trips on) the above.
"""

from __future__ import annotations

import threading
import warnings
from types import ModuleType

_lock = threading.Lock()
_module: ModuleType | None = None

# Exactly the two stdlib deprecation notices GX triggers at import time (Python 3.11+).
_IMPORT_NOISE = r"module 'sre_(constants|parse)' is deprecated"


def load_gx() -> ModuleType:
    """``great_expectations``, imported once (thread-safe)."""
    global _module
    with _lock:
        if _module is None:
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message=_IMPORT_NOISE, category=DeprecationWarning
                )
                import great_expectations

            _module = great_expectations
        return _module
