"""One store, many tenants: every statement a store runs is its tenant's, in one place.

A tenant is one company on an installation (its own Zoho org and Ringostat project). The state
tables hold every tenant's rows, each row's ``tenant`` column leading its primary key
(:class:`models.tables.TenantRow`). A :class:`~tasks.store.Store` is opened for one tenant and
reaches its database only through :func:`scoped` — the shared engine with the tenant as an
execution option — and a :class:`TenantSession`. The engine's ``before_execute`` hook (installed
once per engine by :func:`install`) rewrites each statement on a tenant table before it is
compiled:

- ``SELECT``: ``tenant = :t`` for every tenant table in its FROM clause, joins included;
- ``UPDATE`` / ``DELETE``: ``tenant = :t`` added to the WHERE clause;
- ``INSERT``: ``tenant`` set on every row (single rows, executemany, ORM flushes).

So the store's methods are written as for one company and cannot read or change another's rows;
a statement the hook cannot scope (a SELECT nested in another over a tenant table) is refused
rather than run unscoped. The engine without the option (``Store.shared_engine``) sees every
tenant: what ``callsync tenants`` and cross-tenant reports read. An insert through it fails
(``tenant`` is NOT NULL and has no default), so no row is ever written without its tenant.

The PostgreSQL session locks (run lease) are named per tenant by the store
(:meth:`~tasks.store.shared.SharedMixin.take_session_lock`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Delete, Engine, Insert, Select, Update, event
from sqlalchemy.sql import Join, visitors
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session, SQLModel

from models.tables import TenantRow
from models.tenant_name import DEFAULT_TENANT, TenantNameError, check_tenant

OPTION = "callsync_tenant"
"""The execution option that carries the tenant of a store's connections."""

TENANT_TABLES = frozenset(
    table.name
    for table in SQLModel.metadata.tables.values()
    if TenantRow.model_fields.keys() <= set(table.c.keys())
)

_installed: weakref.WeakSet[Engine] = weakref.WeakSet()
_lock = threading.Lock()


def install(engine: Engine) -> None:
    """Register the scoping hook on ``engine`` (once)."""
    with _lock:
        if engine in _installed:
            return
        event.listen(engine, "before_execute", _scope, retval=True)
        _installed.add(engine)


def scoped(engine: Engine, tenant: str) -> Engine:
    """``engine`` (same pool) whose every statement is ``tenant``'s."""
    install(engine)
    return engine.execution_options(**{OPTION: check_tenant(tenant)})


class TenantSession(Session):
    """A session of one tenant's store: ``get`` takes the key without the tenant, and new
    objects are given the tenant before they are flushed."""

    def __init__(self, bind: Engine, tenant: str, **kwargs: Any) -> None:
        super().__init__(bind, info={OPTION: tenant}, **kwargs)
        self.tenant = tenant

    def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        table = getattr(entity, "__table__", None)
        if table is not None and table.name in TENANT_TABLES:
            ident = (self.tenant, *(ident if isinstance(ident, tuple) else (ident,)))
        return super().get(entity, ident, **kwargs)


@event.listens_for(TenantSession, "before_flush")
def _new_rows_are_the_tenants(session: Session, _context: Any, _instances: Any) -> None:
    tenant = session.info.get(OPTION)
    for obj in session.new:
        if hasattr(obj, "tenant") and not obj.tenant and tenant is not None:
            obj.tenant = tenant


def _tenant_tables(froms: Sequence[Any]) -> list[Any]:
    found: list[Any] = []

    def walk(item: Any) -> None:
        if isinstance(item, Join):
            walk(item.left)
            walk(item.right)
            return
        name = getattr(item, "name", None)
        base = getattr(getattr(item, "element", None), "name", None)
        if name in TENANT_TABLES or base in TENANT_TABLES:
            found.append(item)

    for item in froms:
        walk(item)
    return found


def _refuse_nested(statement: Select[Any]) -> None:
    for element in visitors.iterate(statement):
        if element is statement or not isinstance(element, Select):
            continue
        if _tenant_tables(element.get_final_froms()):
            raise NotImplementedError(
                "a SELECT nested in another reads a tenant table: the store scopes top-level "
                "statements only; write it as a join or as two statements"
            )


def _table_name(table: Any) -> str | None:
    name = getattr(table, "name", None)
    return name if isinstance(name, str) else None


def _with_tenant(params: Any, tenant: str) -> Any:
    if isinstance(params, Mapping):
        return {**params, "tenant": tenant}
    if isinstance(params, list):
        return [_with_tenant(p, tenant) for p in params]
    return params


def _scope(
    conn: Any,
    statement: ClauseElement,
    multiparams: Any,
    params: Any,
    execution_options: Mapping[str, Any],
) -> tuple[ClauseElement, Any, Any]:
    tenant = execution_options.get(OPTION) or conn.get_execution_options().get(OPTION)
    if tenant is None:
        return statement, multiparams, params
    if isinstance(statement, Select):
        _refuse_nested(statement)
        for table in _tenant_tables(statement.get_final_froms()):
            statement = statement.where(table.c.tenant == tenant)
    elif isinstance(statement, Update | Delete):
        if _table_name(statement.table) in TENANT_TABLES:
            statement = statement.where(statement.table.c.tenant == tenant)
    elif isinstance(statement, Insert) and _table_name(statement.table) in TENANT_TABLES:
        if multiparams:
            multiparams = [_with_tenant(p, tenant) for p in multiparams]
        elif params:
            params = _with_tenant(params, tenant)
        else:
            statement = statement.values(tenant=tenant)
    return statement, multiparams, params


__all__ = [
    "DEFAULT_TENANT",
    "OPTION",
    "TENANT_TABLES",
    "TenantNameError",
    "TenantSession",
    "check_tenant",
    "install",
    "scoped",
]
