"""GxRunner: one quiet, offline context; ids of failing rows; errors that are not data errors."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest

from expectations.runner import GxRunner, SuiteError, SuiteSpec, expectation_name


def _small_suite(gx: ModuleType) -> list[Any]:
    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToBeInSet(column="colour", value_set={"$PARAMETER": "colours"}),
        ex.ExpectColumnValuesToBeBetween(column="size", min_value=0, max_value=10),
    ]


SMALL = SuiteSpec("small", _small_suite)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rid": ["a", "b", "c", "d"],
            "colour": ["red", "blue", "pink", "red"],
            "size": [1, 11, 12, 3],
        }
    )


def test_failed_rows_by_id_with_suite_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = GxRunner(tmp_path / "docs")
    runner.register(SMALL)
    outcome = runner.validate("small", frame(), "rid", parameters={"colours": ["red", "blue"]})
    assert not outcome.success
    assert outcome.failed == {
        "b": "expect_column_values_to_be_between:size",
        "c": "expect_column_values_to_be_in_set:colour",  # first in suite order
    }
    assert outcome.statistics["evaluated_expectations"] == 2
    assert outcome.statistics["unsuccessful_expectations"] == 2
    assert json.loads(json.dumps(outcome.results))["success"] is False
    widened = runner.validate(
        "small", frame(), "rid", parameters={"colours": ["red", "blue", "pink"]}
    )
    assert widened.failed == {
        "b": "expect_column_values_to_be_between:size",
        "c": "expect_column_values_to_be_between:size",
    }
    # No progress bars, no banners, and no GX project folder written anywhere but the docs dir.
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_context_is_created_once_offline_and_quiet(tmp_path: Path) -> None:
    runner = GxRunner(tmp_path / "docs")
    runner.register(SMALL)
    runner.validate("small", frame(), "rid", parameters={"colours": ["red"]})
    context = runner._ctx()
    runner.validate("small", frame(), "rid", parameters={"colours": ["blue"]})
    assert runner._ctx() is context
    assert context.config.analytics_enabled is False
    assert context.progress_bars.globally is False
    assert context.progress_bars.metric_calculations is False


def test_unknown_suite_and_missing_id_column(tmp_path: Path) -> None:
    runner = GxRunner(tmp_path / "docs")
    with pytest.raises(SuiteError, match="no suite named 'nope'"):
        runner.validate("nope", frame(), "rid")
    runner.register(SMALL)
    with pytest.raises(SuiteError, match="no id column 'id'"):
        runner.validate("small", frame(), "id", parameters={"colours": []})


def test_an_expectation_that_cannot_run_is_an_error_not_a_data_failure(tmp_path: Path) -> None:
    runner = GxRunner(tmp_path / "docs")
    runner.register(SMALL)
    with pytest.raises(SuiteError, match="expect_column_values_to_be_between:size"):
        runner.validate(
            "small", frame().drop(columns=["size"]), "rid", parameters={"colours": ["red"]}
        )


def test_docs_list_this_runners_validations_and_replace_old_pages(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    first = GxRunner(docs)
    first.register(SMALL)
    first.validate("small", frame(), "rid", parameters={"colours": ["red"]})
    index = first.build_docs()
    assert index == docs / "index.html"
    assert "small" in index.read_text(encoding="utf-8")
    old_pages = list((docs / "validations").rglob("*.html"))
    assert len(old_pages) == 1

    second = GxRunner(docs)
    second.register(SMALL)
    second.validate("small", frame(), "rid", parameters={"colours": ["red"]})
    second.validate("small", frame(), "rid", parameters={"colours": ["blue"]})
    second.build_docs()
    pages = list((docs / "validations").rglob("*.html"))
    assert len(pages) == 2
    assert not set(old_pages) & set(pages)


def test_docs_never_clear_a_folder_that_is_not_a_gx_site(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "validations").mkdir(parents=True)
    keep = docs / "validations" / "mine.txt"
    keep.write_text("not GX's", encoding="utf-8")
    GxRunner(docs).build_docs()
    assert keep.read_text(encoding="utf-8") == "not GX's"


class _Config:
    def __init__(self, type_: str, **kwargs: Any) -> None:
        self.type = type_
        self.kwargs = kwargs


@pytest.mark.parametrize(
    ("config", "name"),
    [
        (
            _Config("expect_column_values_to_be_unique", column="uniqueid"),
            "expect_column_values_to_be_unique:uniqueid",
        ),
        (
            _Config("expect_column_pair_values_to_be_equal", column_A="a", column_B="b"),
            "expect_column_pair_values_to_be_equal:a,b",
        ),
        (
            _Config("expect_compound_columns_to_be_unique", column_list=["a", "b"]),
            "expect_compound_columns_to_be_unique:a,b",
        ),
        (
            _Config("expect_table_row_count_to_be_between", min_value=1),
            "expect_table_row_count_to_be_between",
        ),
    ],
)
def test_expectation_names(config: _Config, name: str) -> None:
    assert expectation_name(config) == name
