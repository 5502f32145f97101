"""What the warm-start server does so that its forked runs cost less CPU.

- Prefect's API clients share one verified TLS context per certificate file
  (``flows.runtime.prefect_tls``); Prefect's insecure mode still gets a context of its own.
- The server freezes its heap before it forks: a run's garbage collector never walks what the
  server imported (checked in a real forked child).
- GX's Data Docs templates are compiled once per process, not once per view: a second view
  renders from the shared cache, to the same HTML; a changed template is compiled again.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import jinja2
import prefect.client.orchestration as orchestration
import pytest
from prefect.client.orchestration import PrefectClient, SyncPrefectClient
from prefect.settings import PREFECT_API_TLS_INSECURE_SKIP_VERIFY, temporary_settings

from expectations import _templates
from flows.runtime.prefect_tls import share_prefect_tls

ROOT = Path(__file__).resolve().parents[2]
API = "http://127.0.0.1:9/api"


def _context(client: PrefectClient | SyncPrefectClient) -> ssl.SSLContext:
    transport: Any = client._client._transport  # httpx's: its pool holds the TLS context
    context = transport._pool._ssl_context
    assert isinstance(context, ssl.SSLContext)
    return context


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orchestration, "ssl", ssl)  # undone after the test
    share_prefect_tls()


def test_prefect_clients_build_a_context_each_by_themselves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(orchestration, "ssl", ssl)
    assert _context(PrefectClient(API)) is not _context(PrefectClient(API))


@pytest.mark.usefixtures("shared")
def test_shared_prefect_clients_use_one_verified_context() -> None:
    first, second, sync = PrefectClient(API), PrefectClient(API), SyncPrefectClient(API)
    assert _context(first) is _context(second) is _context(sync)
    assert _context(first).verify_mode == ssl.CERT_REQUIRED and _context(first).check_hostname
    share_prefect_tls()  # a second call changes nothing
    assert _context(PrefectClient(API)) is _context(first)


@pytest.mark.usefixtures("shared")
def test_the_insecure_mode_still_gets_a_context_of_its_own() -> None:
    verified = _context(PrefectClient(API))
    with temporary_settings({PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        insecure = _context(PrefectClient(API))
    assert insecure is not verified and insecure.verify_mode == ssl.CERT_NONE
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    assert _context(PrefectClient(API)) is verified


def test_a_forked_run_does_not_collect_what_the_server_imported() -> None:
    script = textwrap.dedent(
        """
        import gc, os, sys
        import prefect.flow_engine  # a server's worth of imported objects
        from flows.runtime.warm_engine import _freeze_heap
        _freeze_heap()
        frozen = gc.get_freeze_count()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            tracked = len(gc.get_objects())  # what a collection in the run walks
            os.write(w, f"{frozen} {gc.get_freeze_count()} {tracked}".encode())
            os._exit(0)
        os.waitpid(pid, 0)
        print(os.read(r, 200).decode())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    frozen, in_child, tracked = (int(part) for part in out.split())
    assert frozen > 100_000 and in_child > frozen * 0.9  # still frozen in the run
    assert tracked < frozen // 20


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> _templates.CompiledTemplates:
    cache = _templates.CompiledTemplates()
    monkeypatch.setattr(_templates, "SHARED", cache)
    _templates.share_compiled_templates()
    return cache


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    names: list[str | None] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: Any, name: str | None = None, *a: Any) -> Any:
        names.append(name)
        return original(self, source, name, *a)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


def test_a_second_gx_view_renders_a_template_without_compiling_it(
    compiled: _templates.CompiledTemplates, monkeypatch: pytest.MonkeyPatch
) -> None:
    from great_expectations.render.view.view import DefaultJinjaView

    compiles = _compiles(monkeypatch)
    document = {"content_block_type": "text", "text": ["a missed call"]}
    first = DefaultJinjaView().render_content_block({}, document)
    assert "text.j2" in compiles and len(compiled) > 0
    compiles.clear()
    second = DefaultJinjaView().render_content_block({}, document)
    assert compiles == [] and second == first and "a missed call" in str(first)


def test_precompile_fills_the_cache_so_no_view_compiles(
    compiled: _templates.CompiledTemplates, monkeypatch: pytest.MonkeyPatch
) -> None:
    from great_expectations.render.view.view import DefaultJinjaView

    assert _templates.precompile() >= 30
    compiles = _compiles(monkeypatch)
    view = DefaultJinjaView()
    for name in ("page.j2", "section.j2", "component.j2", "index_page.j2"):
        view.env.get_template(name)
    assert compiles == []


def test_a_changed_template_is_compiled_again(
    compiled: _templates.CompiledTemplates, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = {"t.j2": "old {{ x }}"}
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: sources[name]), bytecode_cache=compiled
    )
    assert env.get_template("t.j2").render(x=1) == "old 1"
    sources["t.j2"] = "new {{ x }}"
    fresh = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: sources[name]), bytecode_cache=compiled
    )
    assert fresh.get_template("t.j2").render(x=1) == "new 1"
