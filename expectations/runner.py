"""Run callsync's Great Expectations suites over pandas frames and build the Data Docs.

One :class:`GxRunner` per flow run owns ONE GX context, created lazily on first use and reused
for every validation and for :meth:`GxRunner.build_docs`:

- the context is *ephemeral* (stores in memory: suites are defined in code, results belong to
  the run) with one local Data Docs site written to ``data_docs_dir`` — no ``gx/`` project
  folder, no YAML. The site shows the validations of the runner that built it (each build
  replaces the previous site, so stale pages of earlier runs never linger);
- usage statistics are off (``analytics_enabled=False`` in the context config, not through the
  environment) and progress bars are off (``progress_bars.globally=False``);
- results use ``result_format`` COMPLETE with ``unexpected_index_column_names=[id_column]``, so
  every failing row is reported by its id, never by a positional index.

A suite is a :class:`SuiteSpec` (a name and a function that builds its expectations), registered
once with :meth:`GxRunner.register`; suite modules (:mod:`expectations.phones`,
:mod:`expectations.assignment`) do that themselves. Suite parameters (``{"$PARAMETER": name}``)
take run-time values such as the active Zoho users.

:class:`SuiteOutcome.failed` maps a row id to the *first* failed expectation of that row, in the
suite's own order, named ``<expectation type>:<column>`` (``:<column A>,<column B>`` for column
pairs), e.g. ``expect_column_values_to_match_regex:client_e164``. These names are the quarantine
reason codes of calls that fail a suite (SPEC section 10).

An expectation that *raised* (a GX or pandas error, not bad data) is a defect in the suite or
its frame: :class:`SuiteError` is raised instead of reporting a half-evaluated suite as data.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # no pandas-stubs in the lock

from expectations._gx import load_gx
from expectations._templates import share_compiled_templates

DATASOURCE = "callsync"
DOCS_SITE = "callsync_local"


class SuiteError(RuntimeError):
    """An expectation could not be evaluated (its frame or definition is wrong), or no such suite."""


@dataclass(frozen=True, slots=True)
class SuiteSpec:
    """A suite defined in code: ``build(gx)`` returns its expectations, in evaluation order."""

    name: str
    build: Callable[[ModuleType], Sequence[Any]]


@dataclass(frozen=True, slots=True)
class SuiteOutcome:
    """What one validation found.

    ``failed``: row id → name of the first failed expectation of that row (suite order).
    ``statistics``: GX's counts (evaluated / successful / unsuccessful expectations, percent).
    ``results``: the whole GX validation result as plain JSON-serializable data.
    """

    success: bool
    failed: dict[str, str]
    statistics: dict[str, Any]
    results: dict[str, Any]


def expectation_name(config: Any) -> str:
    """``<type>:<column>`` (or ``:<A>,<B>`` for pairs, ``:<c1>,<c2>...`` for column lists)."""
    kwargs: Mapping[str, Any] = config.kwargs
    kind = str(config.type)
    if "column" in kwargs:
        return f"{kind}:{kwargs['column']}"
    if "column_A" in kwargs and "column_B" in kwargs:
        return f"{kind}:{kwargs['column_A']},{kwargs['column_B']}"
    if "column_list" in kwargs:
        return f"{kind}:{','.join(str(c) for c in kwargs['column_list'])}"
    return kind


def _row_key(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return ""
    return str(value)


def _raised(result: Any) -> str | None:
    """The exception message of an expectation that raised, else None.

    GX puts ``raised_exception`` at the top of ``exception_info`` for some failures and keys it
    by metric id for metric resolution errors; both shapes are read.
    """
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


class GxRunner:
    """Validates frames against registered suites; one lazily created GX context, reused."""

    def __init__(self, data_docs_dir: Path) -> None:
        self._docs_dir = Path(data_docs_dir)
        self._lock = threading.RLock()
        self._context: Any = None
        self._specs: dict[str, SuiteSpec] = {}
        self._validations: dict[str, Any] = {}

    @property
    def data_docs_dir(self) -> Path:
        return self._docs_dir

    def register(self, spec: SuiteSpec) -> None:
        """Make ``spec`` available to :meth:`validate`; registering the same name again is a no-op."""
        with self._lock:
            self._specs.setdefault(spec.name, spec)

    def _ctx(self) -> Any:
        if self._context is None:
            gx = load_gx()
            share_compiled_templates()  # Data Docs builds compile each template once
            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )

            config = DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                analytics_enabled=False,
                progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
                data_docs_sites={
                    DOCS_SITE: {
                        "class_name": "SiteBuilder",
                        "show_how_to_buttons": False,
                        "store_backend": {
                            "class_name": "TupleFilesystemStoreBackend",
                            "base_directory": str(self._docs_dir.resolve()),
                        },
                        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    }
                },
            )
            context = gx.get_context(mode="ephemeral", project_config=config)
            context.data_sources.add_pandas(DATASOURCE)
            self._context = context
        return self._context

    def _validation(self, suite_name: str) -> Any:
        if suite_name in self._validations:
            return self._validations[suite_name]
        spec = self._specs.get(suite_name)
        if spec is None:
            raise SuiteError(f"no suite named {suite_name!r} is registered")
        gx = load_gx()
        context = self._ctx()
        suite = context.suites.add(
            gx.ExpectationSuite(name=spec.name, expectations=list(spec.build(gx)))
        )
        asset = context.data_sources.get(DATASOURCE).add_dataframe_asset(name=spec.name)
        batch = asset.add_batch_definition_whole_dataframe(name=f"{spec.name}_frame")
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=spec.name, data=batch, suite=suite)
        )
        self._validations[suite_name] = validation
        return validation

    def prepare(self, *specs: SuiteSpec) -> None:
        """Import GX, create the context and the suites' validations now (a few seconds, most
        of it the import): a run calls it from a thread as soon as it knows it has calls to
        check, so its first validation does not wait for all of that."""
        with self._lock:
            for spec in specs:
                self.register(spec)
                self._validation(spec.name)

    def validate(
        self,
        suite_name: str,
        df: pd.DataFrame,
        id_column: str,
        *,
        parameters: Mapping[str, Any] | None = None,
    ) -> SuiteOutcome:
        """Validate ``df`` with the registered suite; failing rows are named by ``id_column``."""
        if id_column not in df.columns:
            raise SuiteError(f"frame for suite {suite_name!r} has no id column {id_column!r}")
        if df.empty:
            # No row can fail: GX (seconds to import) is not needed for that.
            if suite_name not in self._specs:
                raise SuiteError(f"no suite named {suite_name!r} is registered")
            return SuiteOutcome(
                success=True,
                failed={},
                statistics={
                    "evaluated_expectations": 0,
                    "successful_expectations": 0,
                    "unsuccessful_expectations": 0,
                    "success_percent": None,
                },
                results={},
            )
        with self._lock:
            validation = self._validation(suite_name)
            result = validation.run(
                batch_parameters={"dataframe": df},
                expectation_parameters=dict(parameters or {}),
                result_format={
                    "result_format": "COMPLETE",
                    "unexpected_index_column_names": [id_column],
                    "return_unexpected_index_query": False,
                },
            )
            order = {e.id: i for i, e in enumerate(validation.suite.expectations)}
        return _outcome(result, order, id_column)

    def build_docs(self) -> Path:
        """Rebuild the Data Docs site from this runner's validations; returns its index.html.

        A runner that validated nothing (a run with no calls) keeps the site an earlier run
        built, and does not import GX for it.
        """
        index = self._docs_dir / "index.html"
        if self._context is None and index.is_file():
            return index
        with self._lock:
            context = self._ctx()
            _clear_site_pages(self._docs_dir)
            context.build_data_docs(site_names=[DOCS_SITE])
        if not index.is_file():
            raise SuiteError(f"Great Expectations did not write {index}")
        return index


def _clear_site_pages(site: Path) -> None:
    """Drop the result pages an earlier runner left in a GX site.

    The stores are in memory, so the new index would no longer list them: they would only be
    orphans. Only GX's own page folders are removed, and only from a directory that holds a GX
    index — a misconfigured ``data_docs_dir`` never costs anyone their files.
    """
    if not (site / "index.html").is_file():
        return
    for folder in ("validations", "expectations"):
        target = site / folder
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)


def _outcome(result: Any, order: Mapping[str, int], id_column: str) -> SuiteOutcome:
    ranked = sorted(result.results, key=lambda r: order.get(r.expectation_config.id, len(order)))
    broken = [
        f"{expectation_name(r.expectation_config)}: {msg}"
        for r in ranked
        if (msg := _raised(r)) is not None
    ]
    if broken:
        raise SuiteError("expectations could not be evaluated: " + "; ".join(broken))
    failed: dict[str, str] = {}
    for r in ranked:
        if r.success:
            continue
        name = expectation_name(r.expectation_config)
        for row in r.result.get("unexpected_index_list") or ():
            if isinstance(row, Mapping):
                failed.setdefault(_row_key(row.get(id_column)), name)
    as_json = result.to_json_dict()
    return SuiteOutcome(
        success=bool(result.success),
        failed=failed,
        statistics=json.loads(json.dumps(dict(result.statistics), default=str)),
        results=json.loads(json.dumps(as_json, default=str)),
    )
