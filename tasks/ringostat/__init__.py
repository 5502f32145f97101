"""Reading Ringostat's call log: the HTTP client, its error tree and the ingest cursor rules."""

from tasks.ringostat.client import CALL_FIELDS, RingostatClient
from tasks.ringostat.cursor import (
    IngestCursor,
    Window,
    advance,
    daily_windows,
    plan_window,
    split_window,
)
from tasks.ringostat.errors import (
    AccessDenied,
    AuthError,
    FatalError,
    IncorrectFieldError,
    RetriableError,
    RingostatError,
    WindowTooDenseError,
    classify,
)

__all__ = [
    "CALL_FIELDS",
    "AccessDenied",
    "AuthError",
    "FatalError",
    "IncorrectFieldError",
    "IngestCursor",
    "RetriableError",
    "RingostatClient",
    "RingostatError",
    "Window",
    "WindowTooDenseError",
    "advance",
    "classify",
    "daily_windows",
    "plan_window",
    "split_window",
]
