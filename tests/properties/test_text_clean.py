"""The boundary's text cleaning (:func:`tasks.text.clean_text`) for any string at all."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from tasks.ringostat.wire import canonical_row
from tasks.text import clean_text
from tasks.webhooks.events import map_params

# Every code point, surrogates included (Hypothesis leaves them out of text() by default).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()))
KEPT_CONTROLS = {"\t", "\n", "\r"}


def _is_clean(text: str) -> bool:
    return all(unicodedata.category(ch) not in ("Cc", "Cs") or ch in KEPT_CONTROLS for ch in text)


@given(ANY_TEXT)
@example("\ud800")
@example("a\x00b")
@example("\ud83d\ude00")
def test_any_text_comes_out_storable(value: str) -> None:
    cleaned = clean_text(value)
    cleaned.encode("utf-8")  # raises on a lone surrogate
    assert "\x00" not in cleaned
    assert _is_clean(cleaned)
    assert clean_text(cleaned) == cleaned  # cleaning twice changes nothing more


NO_SURROGATES = st.text(st.characters(codec=None, exclude_categories=("Cs",)))


@given(NO_SURROGATES)
def test_only_control_characters_go(value: str) -> None:
    wanted = "".join(ch for ch in value if unicodedata.category(ch) != "Cc" or ch in KEPT_CONTROLS)
    assert clean_text(value) == wanted
    if wanted == value:
        assert clean_text(value) == value  # clean text comes back as it was


@given(NO_SURROGATES, st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"]), NO_SURROGATES)
def test_a_lone_surrogate_becomes_one_replacement_character(
    before: str, lone: str, after: str
) -> None:
    assert clean_text(before + lone + after) == clean_text(before) + "\ufffd" + clean_text(after)


def test_a_surrogate_pair_is_the_character_it_encodes() -> None:
    assert clean_text("\ud83d\ude00!") == "\U0001f600!"


@given(st.dictionaries(ANY_TEXT, ANY_TEXT | st.integers() | st.none(), max_size=5))
def test_both_boundaries_give_json_a_database_takes(row: dict[str, object]) -> None:
    for cleaned in (canonical_row(row), map_params(row, {})):
        text = json.dumps(cleaned, ensure_ascii=False)
        text.encode("utf-8")
        assert "\x00" not in text and all(_is_clean(k) and _is_clean(v) for k, v in cleaned.items())
