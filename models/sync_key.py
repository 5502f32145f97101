"""``rs_sync_key``: the idempotency key of every record callsync writes, and whose call it is.

A key is ``<call key>/<slot>`` (slots ``lead``, ``task``, ``task-responsible``, ``call``, ...).
The call key is the call's ``uniqueid`` itself when it is an ordinary one: ASCII letters and
digits, then letters, digits and ``. _ : -``, at most 100 characters — every uniqueid Ringostat
issues. Anything else (a quote, a slash, spaces, non-ASCII, over 100 characters) cannot go into a
unique text field and a COQL lookup safely, so its call key is ``h-`` and 32 hex digits of its
SHA-256: stable across runs and processes, never longer than 34 characters, and never holding a
``/`` — so the call of a key is always the text before its first ``/``.

Every writer of a call's records (the log sync, the real-time receiver) builds keys here: the same
call always gets the same keys, whichever path writes first.
"""

from __future__ import annotations

import hashlib
import re

_ORDINARY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
HASH_PREFIX = "h-"


def call_key(uniqueid: str) -> str:
    """The call part of the call's sync keys: the uniqueid, or its hash when it is odd."""
    if _ORDINARY.fullmatch(uniqueid):
        return uniqueid
    return HASH_PREFIX + hashlib.sha256(uniqueid.encode("utf-8")).hexdigest()[:32]


def sync_key(uniqueid: str, slot: str) -> str:
    """The ``rs_sync_key`` of the call's record in ``slot`` (``lead``, ``task``, ...)."""
    return f"{call_key(uniqueid)}/{slot}"


def belongs_to(key: str | None, uniqueid: str) -> bool:
    """Whether ``key`` is one of the call's own sync keys (a record this call created)."""
    return bool(key) and str(key).startswith(call_key(uniqueid) + "/")
