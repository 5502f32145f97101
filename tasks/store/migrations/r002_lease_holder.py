"""Revision 2: the run lease names its holder's process (host, pid, start mark), so that a
holder on this host whose process is gone is taken over at once instead of at its expiry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Column, Integer, String

if TYPE_CHECKING:
    from alembic.operations import Operations

NAME = "lease holder process"


def upgrade(op: Operations) -> None:
    op.add_column("run_leases", Column("holder_host", String(), nullable=True))
    op.add_column("run_leases", Column("holder_pid", Integer(), nullable=True))
    op.add_column("run_leases", Column("holder_started", String(), nullable=True))
