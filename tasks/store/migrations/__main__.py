"""``python -m tasks.store.migrations new "what it changes"``: write the next revision's module.

Its ``upgrade`` holds the operations Alembic's comparison finds between a store at today's head
revision (a SQLite database in memory) and the models of :mod:`models.tables`: what a store needs
to match the models again. Read it before committing: a rename comes out as drop + add, and a
new NOT NULL column needs a ``server_default`` for the rows already there.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal

from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from models.tables import AwareDateTime
from tasks.store.migrations.runner import SCHEMA_TABLE, head_revision

TEMPLATE = '''"""Revision {revision}: {name}."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.operations import Operations

NAME = "{name}"


def upgrade(op: Operations) -> None:
{body}
'''


def _render_item(kind: str, obj: Any, _context: Any) -> str | Literal[False]:
    """Our column types as plain SQLAlchemy types (the DDL is the same, the module stays free
    of SQLModel and of models.tables, which keep changing)."""
    if kind == "type" and isinstance(obj, AutoString):
        return "sa.String()"
    if kind == "type" and isinstance(obj, AwareDateTime):
        return "sa.DateTime()"
    return False


def pending_operations() -> str:
    """The Python code of the operations a store at the head revision lacks ("" when none)."""
    from alembic.autogenerate import produce_migrations, render_python_code
    from alembic.runtime.migration import MigrationContext

    from tasks.store import Store

    def ours(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
        return not (kind == "table" and name == SCHEMA_TABLE.name)

    store = Store("sqlite://")
    try:
        with store.engine.connect() as conn:
            opts = {"include_object": ours, "compare_type": True, "render_item": _render_item}
            context = MigrationContext.configure(conn, opts=opts)
            script = produce_migrations(context, SQLModel.metadata)
            if script.upgrade_ops is None or script.upgrade_ops.is_empty():
                return ""
            code = render_python_code(script.upgrade_ops, render_item=_render_item)
    finally:
        store.close()
    lines = [line for line in code.splitlines() if not line.strip().startswith("#")]
    return textwrap.dedent("\n".join(lines)).strip("\n")


def new(name: str) -> Path:
    revision = head_revision() + 1
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "change"
    path = Path(__file__).with_name(f"r{revision:03d}_{slug}.py")
    found = pending_operations() or "pass  # the models match the head revision: nothing found"
    body = textwrap.indent(found, "    ")
    path.write_text(TEMPLATE.format(revision=revision, name=name, body=body), encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "new":
        print('usage: python -m tasks.store.migrations new "what it changes"', file=sys.stderr)
        return 2
    print(f"wrote {new(argv[1])}: read it, then run tests/unit/test_store_migrations.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
