"""The README keeps up with the product: every config key, every command's ``--config``, every
route of the emulators' admin API, and the operations an operator needs are in it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import typer.main
from fastapi.routing import APIRoute
from pydantic import BaseModel

from emulators.ringostat.app import create_app as create_ringostat
from emulators.zoho.app import create_app as create_zoho
from flows.cli.app import app
from models.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _config_block() -> list[str]:
    start = README.index("## Configuration")
    block = README[README.index("```toml", start) : README.index("```\n", start + 20)]
    return block.splitlines()


def _documented() -> set[str]:
    """``section.key`` of every key the README's configuration block shows (commented or not)."""
    found: set[str] = set()
    section = ""
    for line in _config_block():
        text = line.strip().removeprefix("#").strip()
        if header := re.match(r"^\[\[?([A-Za-z_.0-9\"@-]+)\]?\]", text):
            section = header.group(1)
            found.add(section)
        elif key := re.match(r"^([A-Za-z_][A-Za-z_0-9]*)\s*=", text):
            found.add(f"{section}.{key.group(1)}")
    return found


def _model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _keys(model: type[BaseModel], prefix: str) -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        nested = _model(info.annotation)
        # A table keyed by the operator's own names (matrix rows, people's shifts) shows its
        # header with an example key; its inner keys are checked no further.
        keyed = get_origin(info.annotation) is dict
        if nested is not None and not keyed and not name.endswith("tasks"):
            keys.extend(_keys(nested, f"{prefix}.{name}"))
        else:
            keys.append(f"{prefix}.{name}")
    return keys


def test_every_config_key_is_in_the_configuration_block() -> None:
    shown = _documented()
    # Sections only: ``tenant`` is a file's name in a tenants directory, never a key.
    sections = {
        name: model
        for name, info in Settings.model_fields.items()
        if (model := _model(info.annotation)) is not None
    }
    expected = [key for section, model in sections.items() for key in _keys(model, section)]
    # Tables whose keys are the operator's own (matrix rows, field maps) show their header.
    missing = [
        key
        for key in expected
        if key not in shown and not any(s.startswith(f"{key}.") for s in shown)
    ]
    assert missing == []


def test_the_configuration_block_is_a_config_callsync_accepts() -> None:
    block = "\n".join(_config_block()[1:])
    Settings(**tomllib.loads(block))  # every key where it belongs, every value valid


@pytest.mark.parametrize(
    "command",
    sorted(
        name
        for name, cmd in typer.main.get_command(app).commands.items()  # type: ignore[attr-defined]
        if any(p.name == "config" for p in cmd.params)
    ),
)
def test_every_command_with_a_config_shows_it_in_its_row(command: str) -> None:
    rows = [line for line in README.splitlines() if line.startswith(f"| `callsync {command}")]
    assert rows, f"no row for callsync {command}"
    assert any("--config" in row for row in rows), rows


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """The app's routes, those of included routers too (FastAPI keeps those apart)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(_api_routes(route.original_router.routes))
    return found


@pytest.mark.parametrize(
    ("name", "emulator"), [("zoho", create_zoho()), ("ringostat", create_ringostat())]
)
def test_every_admin_route_of_the_emulators_is_documented(name: str, emulator: Any) -> None:
    routes = [
        f"`{method} {route.path}`"
        for route in _api_routes(emulator.routes)
        if route.path.startswith("/__emulator__")
        for method in sorted(route.methods)
    ]
    assert routes
    assert [r for r in routes if r not in README] == []


def test_the_operations_an_operator_needs_are_there() -> None:
    for heading in (
        "### `callsync serve` as a service",
        "### The Prefect server callsync runs",
        "### Alerting",
        "### Upgrading",
        "### Backup and restore",
        "### A Zoho refresh token (Self Client)",
    ):
        assert heading in README
    assert "ExecStart=/opt/callsync/.venv/bin/callsync serve --config" in README
    assert "-d grant_type=authorization_code" in README
    assert "SPEC" not in README  # the repository stands alone
