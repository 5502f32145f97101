"""What can go wrong talking to a vendor, named by what the caller must do.

Both clients' errors descend from this one tree, so code above the clients (a step's retry
filter, the command line's one-line errors) asks one question whichever vendor failed::

    VendorError           base: ``message``, and ``status``, the HTTP status (None: no answer)
    ├── RetriableError    transient (429, 5xx, timeouts, a dropped connection): the client has
    │                     already retried with backoff; a whole step may be retried later.
    │                     ``retry_after``: the seconds the vendor asked to wait, when it said so
    ├── AuthError         the vendor refused the credentials (after the one token refresh the
    │                     vendor allows, if any): a person must fix a setting
    └── FatalError        retrying cannot help: configuration, permissions or a bug

Each vendor keeps its own tree with the classes only it has (:mod:`tasks.zoho.errors`:
``CreditsExhausted``, ``OutcomeUnknown``, ``RecordRejected``; :mod:`tasks.ringostat.errors`:
``AccessDenied``, ``IncorrectFieldError``, ``WindowTooDenseError``). A vendor's class is one of
the classes above exactly when it is its own vendor's class of that name: Zoho's
``RetriableError`` is a :class:`RetriableError`, Ringostat's ``AuthError`` (a ``FatalError``
there, since Ringostat has no token to refresh) is both an :class:`AuthError` and a
:class:`FatalError`, and Zoho's ``CreditsExhausted`` is none of the three.
"""

from __future__ import annotations


class VendorError(Exception):
    """Base of every error a vendor client raises."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RetriableError(VendorError):
    """Transient: the same request may succeed later."""

    retry_after: float | None = None
    """Seconds the vendor asked to wait (``Retry-After``); None when it did not say."""


class AuthError(VendorError):
    """The vendor refused the credentials."""


class FatalError(VendorError):
    """Retrying the same request cannot help; a person must change something."""
