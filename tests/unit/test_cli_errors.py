"""Bad input is one ``callsync: error:`` line naming what to fix, found before Prefect starts.

Each bad input of the command line is pinned here: a typo'd config key, missing credentials,
reversed or unparsable ``--from``/``--to``, an offline plan without ``--config``, an unreachable
service (a closed port on 127.0.0.1). The subprocess test runs them in a fresh interpreter and
checks that Prefect was never even imported. Reachability is bounded by the timeout the look uses
(:data:`tasks.reachability.REACH_TIMEOUT_S`), asserted here, never by a clock.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from flows.cli.app import app
from flows.cli.oneline import describe, quiet_console_tracebacks
from models.settings import ConfigError
from tasks.reachability import REACH_TIMEOUT_S, Endpoint, ServiceUnreachable, check_reachable
from tasks.zoho.errors import from_transport_error

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "plan"


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def write_config(tmp_path: Path, url: str, name: str = "c.toml", extra: str = "") -> Path:
    path = tmp_path / name
    path.write_text(
        f"""
[zoho]
accounts_url = "{url}"
api_domain = "{url}"
client_id = "id"
client_secret = "secret"
refresh_token = "token"
[ringostat]
base_url = "{url}"
auth_key = "key"
[scenario]
top_manager = "boss@example.com"
{extra}
""",
        encoding="utf-8",
    )
    return path


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("callsync: error: "), stderr
    return lines[0]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CALLSYNC_"):
            monkeypatch.delenv(name)


# A fresh interpreter runs every bad input and reports whether Prefect got imported.
_SCRIPT = """
import json, sys
from typer.testing import CliRunner
from flows.cli.app import app
out = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(app, args)
    out.append({"code": r.exit_code, "stderr": r.stderr, "prefect": "prefect" in sys.modules})
print(json.dumps(out))
"""


def test_bad_inputs_fail_in_one_line_before_prefect_is_imported(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    good = write_config(tmp_path, url)
    typo = tmp_path / "typo.toml"
    typo.write_text("[scenario]\nmatch_digit = 9\n", encoding="utf-8")
    calls, crm = str(DATA / "calls.json"), str(DATA / "crm.json")
    cases: list[tuple[list[str], list[str]]] = [
        (["sync", "--config", str(typo)], ["unknown key 'scenario.match_digit'", "typo.toml"]),
        (["plan", "--config", str(typo)], ["unknown key 'scenario.match_digit'"]),
        (["backfill", "--from", "2026-11-01", "--config", str(typo)], ["unknown key"]),
        (["serve", "--config", str(typo)], ["unknown key"]),
        (["report", "--refresh", "--config", str(typo)], ["unknown key"]),
        (
            ["sync", "--config", str(good), "--from", "2026-11-25", "--to", "2026-11-24"],
            ["--from 2026-11-25 is not before --to 2026-11-24"],
        ),
        (
            ["backfill", "--config", str(good), "--from", "2026-11-25", "--to", "2026-11-24"],
            ["--from 2026-11-25 is not before --to 2026-11-24"],
        ),
        (["sync", "--config", str(good), "--from", "yesterday"], ["'yesterday'", "ISO 8601"]),
        (["sync", "--config", str(good), "--from", "2999-01-01"], ["in the future"]),
        (
            ["plan", "--calls", calls, "--crm", crm],
            ["scenario.top_manager", "CALLSYNC_SCENARIO__TOP_MANAGER", "--config"],
        ),
        (["sync"], ["zoho.refresh_token", "ringostat.auth_key", "--config"]),
        (
            ["sync", "--config", str(good)],
            [f"cannot reach {url}", "zoho.accounts_url", "ringostat.base_url"],
        ),
        (["report", "--refresh", "--config", str(good)], [f"cannot reach {url}", "zoho."]),
        (["doctor", "--config", str(good)], [f"cannot reach {url}", "zoho.api_domain"]),
        (["serve", "--config", str(good)], [f"cannot reach {url}"]),
        (["listen", "--config", str(good)], ["webhook.token", "CALLSYNC_WEBHOOK__TOKEN"]),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSYNC_")}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps([args for args, _ in cases])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    results = json.loads(proc.stdout)
    for (args, expected), result in zip(cases, results, strict=True):
        assert result["code"] == 1, (args, result)
        line = one_line(result["stderr"])
        for text in expected:
            assert text in line, (args, line)
        assert not result["prefect"], f"{args}: Prefect was imported before the failure"
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["backfill"], "Missing option '--from'. (see `callsync backfill --help`)"),
        (["sync", "--frm", "2026-11-01"], "No such option: --frm"),
        (["demo", "--days", "99"], "Invalid value for '--days'"),
        (["synk"], "No such command 'synk'. Did you mean 'sync'? (see `callsync --help`)"),
    ],
)
def test_a_command_line_mistake_is_one_line_too(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2  # click's status for usage errors
    assert expected in one_line(result.stderr)


def test_help_is_still_the_help() -> None:
    assert CliRunner().invoke(app, []).stdout.count("Usage") == 1
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "--debug" in result.stdout


def test_debug_shows_the_exception(tmp_path: Path, clean_env: None) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text("[zoho]\nclient = 1\n", encoding="utf-8")
    plain = CliRunner().invoke(app, ["requeue", "--config", str(typo)])
    assert plain.exit_code == 1 and "unknown key 'zoho.client'" in one_line(plain.stderr)
    debug = CliRunner().invoke(app, ["--debug", "requeue", "--config", str(typo)])
    assert isinstance(debug.exception, ConfigError)


def test_an_unexpected_error_is_one_line_pointing_at_debug() -> None:
    text = describe(RuntimeError("boom\n  at line 3"))
    assert text == "RuntimeError: boom (run with --debug for the traceback)"
    assert describe(ConfigError("invalid configuration (c.toml): unknown key 'x'")) == (
        "invalid configuration (c.toml): unknown key 'x'"
    )


# --- reachability ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_reachability_is_one_concurrent_look_per_origin_bounded_by_the_timeout() -> None:
    seen: list[tuple[str, dict[str, float]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.extensions["timeout"]))
        if request.url.host == "zoho.test":
            return httpx.Response(404)  # any answer means the host is there
        raise httpx.ConnectTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(ServiceUnreachable) as caught:
            await check_reachable(
                [
                    Endpoint("zoho.accounts_url", "https://zoho.test"),
                    Endpoint("zoho.api_domain", "https://zoho.test/"),
                    Endpoint("ringostat.base_url", "https://ringostat.test/api"),
                ],
                http,
            )
    assert sorted(url for url, _ in seen) == ["https://ringostat.test", "https://zoho.test"]
    assert REACH_TIMEOUT_S <= 10  # the bound that keeps a failing command under 15 s
    for _, timeout in seen:
        assert set(timeout.values()) == {REACH_TIMEOUT_S}
    message = str(caught.value)
    assert "cannot reach https://ringostat.test (ringostat.base_url)" in message
    assert f"no connection within {REACH_TIMEOUT_S:g} s" in message
    assert "zoho" not in message


@pytest.mark.anyio
async def test_the_whole_look_is_bounded_not_only_each_phase() -> None:
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()  # an answer that never comes; the bound below ends the wait
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as http:
        with pytest.raises(ServiceUnreachable, match=r"ringostat.base_url\): no answer within 0 s"):
            await check_reachable(
                [Endpoint("ringostat.base_url", "https://r.test")], http, timeout_s=0
            )


@pytest.mark.anyio
async def test_reachability_passes_on_any_answer() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    async with httpx.AsyncClient(transport=transport) as http:
        await check_reachable([Endpoint("ringostat.base_url", "https://r.test")], http)


def test_a_zoho_transport_error_names_the_host() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9/crm/v8/users?secret=x")
    err = from_transport_error(httpx.ConnectError("refused", request=request), idempotent=True)
    assert "http://127.0.0.1:9" in str(err) and "secret" not in str(err)


# --- Prefect's console ---------------------------------------------------------------------


def test_console_log_lines_keep_their_message_and_lose_the_traceback() -> None:
    from prefect.logging.handlers import PrefectConsoleHandler

    console, other = io.StringIO(), io.StringIO()
    console_handler = PrefectConsoleHandler(stream=console)
    other_handler = logging.StreamHandler(other)
    logger = logging.getLogger("callsync-test-quiet")
    logger.addHandler(console_handler)
    logger.addHandler(other_handler)
    logger.propagate = False
    try:
        quiet_console_tracebacks()
        quiet_console_tracebacks()  # idempotent
        try:
            raise RuntimeError("inner detail")
        except RuntimeError:
            logger.exception("Encountered exception during execution")
    finally:
        logger.removeHandler(console_handler)
        logger.removeHandler(other_handler)
    assert "Encountered exception during execution" in console.getvalue()
    assert "Traceback" not in console.getvalue()
    assert "Traceback" in other.getvalue() and "inner detail" in other.getvalue()
