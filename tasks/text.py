"""Text cleaned at the boundary: what a vendor or a visitor sends becomes text every store keeps.

Values from outside (call-log rows, webhook parameters) can hold what no database column takes:

- a **lone surrogate** (``"\\ud800"``: valid JSON as an escape, no UTF-8 form): SQLite's driver
  and PostgreSQL refuse the whole statement; it is replaced with U+FFFD. A surrogate *pair* (an
  escaped emoji split in two) becomes the one character it encodes;
- **NUL** (PostgreSQL refuses it in text) and the other control characters (escape sequences,
  bell, DEL, the C1 block): removed. Tab, CR and LF are text and kept.

Nothing else changes: a clean value comes back as the very same string. One function for both
boundaries (:mod:`tasks.ringostat.wire` when an answer is parsed, :mod:`tasks.webhooks.events`
when a webhook is read), so a call reads the same whichever path brought it.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` without control characters (tab, CR, LF kept), lone surrogates as U+FFFD."""
    if value.isprintable():  # the common case, in C: no control character, no surrogate
        return value
    if _SURROGATE.search(value) is not None:
        # UTF-16 with surrogatepass pairs what belongs together; the rest fails to decode.
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _CONTROL.sub("", value)
