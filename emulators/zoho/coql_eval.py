"""Running a parsed COQL query over the org, and shaping rows as Zoho answers them.

Rows hold the selected columns plus ``id``; lookup and owner columns come as ``{"id": ...}``
(COQL does not expand them), ``Lookup.field`` columns as plain values. Text comparisons are
case-insensitive, as Zoho's are. Comparisons with a null never match (SQL semantics).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from emulators.zoho.coql import BoolOp, Comparison, Condition, Query
from emulators.zoho.errors import ZohoError
from emulators.zoho.org import FieldDef, ModuleDef
from emulators.zoho.state import Record, ZohoState
from emulators.zoho.validation import parse_datetime

Predicate = Callable[[Record], bool]
#: Compared as Decimal: 19-digit record ids do not survive a float.
_NUMERIC = ("integer", "bigint", "currency", "double")
_USER_COLUMNS = {"id", "email", "full_name", "name", "first_name", "last_name", "status"}


def invalid_column(name: str) -> ZohoError:
    return ZohoError(
        400, "INVALID_QUERY", "column given seems to be invalid", {"column_name": name}
    )


def invalid_value(name: str) -> ZohoError:
    return ZohoError(
        400,
        "INVALID_QUERY",
        "value given seems to be invalid for the column",
        {"column_name": name},
    )


class _Resolver:
    """Column names → field definitions and value getters for one module."""

    def __init__(self, state: ZohoState, module: ModuleDef) -> None:
        self.state = state
        self.module = module

    def field_type(self, column: str) -> str:
        head, _, tail = column.partition(".")
        fdef = self.module.get(head)
        if fdef is None:
            raise invalid_column(column)
        if not tail:
            return fdef.data_type
        if fdef.data_type == "ownerlookup":
            if tail not in _USER_COLUMNS:
                raise invalid_column(column)
            return "text"
        if fdef.data_type != "lookup":
            raise invalid_column(column)
        if tail == "id":
            return "lookup"
        target = self.state.module(fdef.lookup[0])
        sub = target.get(tail) if target is not None and len(fdef.lookup) == 1 else None
        if sub is None or sub.data_type in ("lookup", "ownerlookup"):
            raise invalid_column(column)
        return sub.data_type

    def value(self, record: Record, column: str) -> Any:
        head, _, tail = column.partition(".")
        fdef = self.module.fields[head]
        raw = record.get(head)
        if fdef.data_type in ("lookup", "ownerlookup"):
            ref = raw.get("id") if isinstance(raw, dict) else None
            if not tail or tail == "id" or ref is None:
                return ref
            return self._deref(fdef, record, str(ref), tail)
        return raw

    def _deref(self, fdef: FieldDef, record: Record, ref: str, tail: str) -> Any:
        if fdef.data_type == "ownerlookup":
            user = self.state.users.get(ref)
            if user is None:
                return None
            return user["full_name"] if tail == "name" else user.get(tail)
        target_module = str(record.get("$se_module") or fdef.lookup[0])
        target = self.state.find(target_module, ref)
        return target.get(tail) if target is not None else None


def _coerce(kind: str, column: str, value: Any) -> Any:
    """A query literal as the column's type (raises ``INVALID_QUERY`` when it cannot be)."""
    if value is None:
        return None
    if kind == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise invalid_value(column)
        return parsed
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid_value(column)
    if kind in _NUMERIC:
        try:
            return Decimal(str(value))
        except ArithmeticError:
            raise invalid_value(column) from None
    return str(value).casefold() if not isinstance(value, bool) else str(value).lower()


def _normalize(kind: str, value: Any) -> Any:
    """A stored value in the same comparable form as :func:`_coerce` gives literals."""
    if value is None or value == "":
        return None
    if kind == "datetime":
        return value if isinstance(value, datetime) else parse_datetime(str(value))
    if kind == "boolean":
        return bool(value)
    if kind in _NUMERIC:
        try:
            return Decimal(str(value))
        except ArithmeticError:
            return None
    return str(value).casefold()


def _like(pattern: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in pattern.casefold().split("%")]
    return re.compile("^" + ".*".join(parts) + "$", re.DOTALL)


def _compare(op: str, left: Any, right: Any) -> bool:
    try:
        if op == "=":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        if op == "<":
            return bool(left < right)
        if op == ">":
            return bool(left > right)
        if op == "<=":
            return bool(left <= right)
        return bool(left >= right)
    except TypeError:
        return False


def compile_condition(resolver: _Resolver, cond: Condition) -> Predicate:
    if isinstance(cond, BoolOp):
        left = compile_condition(resolver, cond.left)
        right = compile_condition(resolver, cond.right)
        if cond.op == "and":
            return lambda r: left(r) and right(r)
        return lambda r: left(r) or right(r)
    return _compile_comparison(resolver, cond)


def _compile_comparison(resolver: _Resolver, comp: Comparison) -> Predicate:
    column, op = comp.field, comp.op
    kind = resolver.field_type(column)

    def get(record: Record) -> Any:
        return _normalize(kind, resolver.value(record, column))

    if op == "is_null":
        return lambda r: get(r) is None
    if op == "is_not_null":
        return lambda r: get(r) is not None
    if op in ("like", "not_like"):
        regex = _like(str(comp.values[0]))
        want = op == "like"

        def like(record: Record) -> bool:
            value = get(record)
            return value is not None and bool(regex.match(str(value))) == want

        return like
    values = [_coerce(kind, column, v) for v in comp.values]
    if op in ("in", "not_in"):
        members = set(values)
        inside = op == "in"
        return lambda r: (v := get(r)) is not None and (v in members) == inside
    if op == "between":
        low, high = values
        return lambda r: (
            (v := get(r)) is not None and _compare(">=", v, low) and _compare("<=", v, high)
        )
    target = values[0]
    return lambda r: (v := get(r)) is not None and target is not None and _compare(op, v, target)


def _row(resolver: _Resolver, record: Record, columns: list[str]) -> Record:
    row: Record = {}
    for column in columns:
        value = resolver.value(record, column)
        kind = resolver.module.fields[column.partition(".")[0]].data_type
        if "." not in column and kind in ("lookup", "ownerlookup"):
            row[column] = {"id": value} if value is not None else None
        elif isinstance(value, datetime) or resolver.field_type(column) == "datetime":
            row[column] = resolver.state.wire_datetime(value)
        else:
            row[column] = value
    if "id" not in row:
        row["id"] = record["id"]
    return row


def execute(state: ZohoState, query: Query) -> tuple[list[Record], bool]:
    """The rows of one page and whether more rows follow."""
    module = state.module(query.module)
    if module is None or module.api_name not in state.records:
        raise ZohoError(400, "INVALID_QUERY", "invalid query formed", {"module": query.module})
    resolver = _Resolver(state, module)
    for column in [*query.fields, *(name for name, _ in query.order)]:
        resolver.field_type(column)
    predicate = compile_condition(resolver, query.where) if query.where else None
    matched = [
        r for r in state.records[module.api_name].values() if predicate is None or predicate(r)
    ]
    for column, descending in reversed(query.order):
        kind = resolver.field_type(column)
        keyed = [(_normalize(kind, resolver.value(r, column)), r) for r in matched]
        present = [pair for pair in keyed if pair[0] is not None]
        present.sort(key=lambda pair: pair[0], reverse=descending)
        # nulls last whatever the direction, as Zoho lists them
        matched = [r for _, r in present] + [r for v, r in keyed if v is None]
    page = matched[query.offset : query.offset + query.limit]
    more = len(matched) > query.offset + query.limit
    return [_row(resolver, r, query.fields) for r in page], more
