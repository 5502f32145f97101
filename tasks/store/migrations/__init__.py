"""The state store's schema, one numbered revision at a time (Alembic operations, no Alembic
scripts folder).

Every ``rNNN_<what>.py`` module in this package is one revision: ``NAME`` (a few words) and
``upgrade(op)``, where ``op`` is :class:`alembic.operations.Operations` bound to the store's
connection. Revision 1 (:mod:`.r001_baseline`) is the schema of the last release without
migrations; every later change to a table of :mod:`models.tables` is a new revision. Opening a
:class:`~tasks.store.Store` applies the revisions the database lacks, in order, in one
transaction under the store's schema lock (a PostgreSQL advisory lock; SQLite's write lock), and
records each in ``store_schema``: any number of processes may open a new or old store at once,
and exactly one of them upgrades it. A store newer than this callsync is refused.

Adding a column or a table (two minutes):

1. Change the model in :mod:`models.tables` (a new column is nullable, or has a
   ``server_default``: existing rows get a value).
2. ``.venv/bin/python -m tasks.store.migrations new "calls calldate"`` writes
   ``rNNN_calls_calldate.py`` with the operations that bring a store at the previous revision to
   the models (Alembic's comparison of the two); read it, fix what it guessed wrong.
3. ``.venv/bin/python -m pytest tests/unit/test_store_migrations.py -q`` proves that the
   revisions build exactly the tables the models declare, on SQLite and PostgreSQL, and that a
   store of the last release upgrades and keeps its rows.

Rules: never edit a revision that was merged (write another); two branches that both added
``r003_…`` are renumbered when merged (the store refuses to open with two revisions of one
number, so a merge cannot miss it); on SQLite, changing or dropping a column needs
``with op.batch_alter_table("calls") as batch: ...`` (Alembic copies the table); a data
migration uses ``op.get_bind()`` and Core statements, never the models (they change later).
"""

from tasks.store.migrations.runner import (
    SCHEMA_TABLE,
    Migration,
    StoreTooNew,
    current_revision,
    head_revision,
    migrations,
    upgrade_store,
)

__all__ = [
    "SCHEMA_TABLE",
    "Migration",
    "StoreTooNew",
    "current_revision",
    "head_revision",
    "migrations",
    "upgrade_store",
]
