"""Free text that may reach a log line keeps no full phone number (last four digits only)."""

from __future__ import annotations

import httpx
import pytest

from models.call import mask_numbers
from tasks.ringostat.errors import vendor_message
from tasks.ringostat.wire import WireFormatError, parse_json_rows


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("caller +380 50 123-45-67 hung up", "caller ***4567 hung up"),
        ('{"caller":"380501234567"}', '{"caller":"***4567"}'),
        ("(050) 123 45 67", "(***4567"),
        ("window 2026-03-02 10:00:00..2026-03-02 11:00:00", None),  # dates stay
        ("HTTP 503 at 12:00, retry in 30 s", None),
        ("short 123456 stays", None),
    ],
)
def test_numbers_are_masked_and_other_text_kept(text: str, masked: str | None) -> None:
    assert mask_numbers(text) == (text if masked is None else masked)


def test_an_odd_answer_quoted_in_an_error_shows_no_number() -> None:
    with pytest.raises(WireFormatError) as failed:
        parse_json_rows('{"rows": [{"caller": "+380501234567", "uniqueid": "a"}]}')
    assert "380501234567" not in str(failed.value) and "4567" in str(failed.value)


def test_a_vendor_error_text_shows_no_number() -> None:
    answer = httpx.Response(500, json={"error": "bad row: caller 380501234567"})
    assert vendor_message(answer) == "bad row: caller ***4567"
