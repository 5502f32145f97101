"""A tiny COQL builder that only ever lets validated values into a query.

COQL's quote escaping is undocumented, so nothing here escapes: every value must match a strict
pattern or the builder raises :class:`CoqlError`. What can reach a query:

- field and module API names (letters, digits, underscores; ``Owner.id``-style lookups);
- Zoho record ids (digits);
- phone digits (an optional leading ``+`` then digits), and ``like`` patterns made of digits and
  ``%``: ``'%<digits>'`` for ends-with, which is how COQL spells what the search API cannot (no
  ``ends_with`` there), ``'%<digits>%'`` for contains, ``'%9%3%0%...%'`` for digits in order;
- sync keys (``<uniqueid>/<slot>``: letters, digits and ``. _ : / -``, at most 255 characters);
- aware datetimes, written by the builder itself as ISO 8601 with an offset.

Zoho's rules enforced: ``in (...)`` takes 1–50 values; at most 25 criteria; more than two
criteria are pairwise parenthesized, ``((A and B) and C)``; ``limit`` 1–2,000 and at most
100,000 rows reachable through ``offset``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from models.call import mask_numbers

MAX_IN = 50
MAX_CRITERIA = 25
MAX_LIMIT = 2000
MAX_ROWS = 100_000

# [0-9], never \d: \d also matches Arabic-Indic and other Unicode digits.
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}(\.[A-Za-z][A-Za-z0-9_]{0,99})?")
_ZOHO_ID = re.compile(r"[0-9]{1,30}")
_PHONE = re.compile(r"\+?[0-9]{1,30}")
_DIGITS = re.compile(r"[0-9]{1,30}")
_SYNC_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}")


class CoqlError(ValueError):
    """A value or name that is not allowed into a COQL query."""


def _check(pattern: re.Pattern[str], value: object, what: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        # Masked: the value may be a caller's number, and this message can reach a log line.
        raise CoqlError(f"not a valid {what}: {mask_numbers(repr(value))}"[:200])
    return value


def api_name(name: str) -> str:
    """A field or module API name, validated."""
    return _check(_API_NAME, name, "API name")


@dataclass(frozen=True, slots=True)
class Value:
    """A quoted literal; build it with :func:`zoho_id`, :func:`phone` or :func:`sync_key`."""

    sql: str


def valid_id(value: str) -> str:
    return _check(_ZOHO_ID, value, "Zoho id")


def valid_phone(value: str) -> str:
    return _check(_PHONE, value, "phone (digits, optional leading +)")


def valid_sync_key(value: str) -> str:
    return _check(_SYNC_KEY, value, "sync key")


def zoho_id(value: str) -> Value:
    return Value(f"'{valid_id(value)}'")


def phone(value: str) -> Value:
    return Value(f"'{valid_phone(value)}'")


def sync_key(value: str) -> Value:
    return Value(f"'{valid_sync_key(value)}'")


def when(value: datetime) -> Value:
    """An aware datetime as COQL compares it (``yyyy-MM-ddTHH:mm:ss±HH:MM``)."""
    if value.tzinfo is None:
        raise CoqlError(f"a COQL datetime must be aware, got {value.isoformat()}")
    return Value(f"'{value.replace(microsecond=0).isoformat()}'")


@dataclass(frozen=True, slots=True)
class Condition:
    """A WHERE criterion (or a parenthesized group of them); ``criteria`` counts the leaves."""

    sql: str
    criteria: int = 1


def eq(field: str, value: Value) -> Condition:
    return Condition(f"{api_name(field)} = {value.sql}")


Comparison = Literal["=", "!=", "<", "<=", ">", ">="]


def compare(field: str, op: Comparison, value: Value) -> Condition:
    """``field <op> value`` (``!=`` on a lookup compares its id)."""
    if op not in ("=", "!=", "<", "<=", ">", ">="):
        raise CoqlError(f"not a COQL comparison: {op!r}")
    return Condition(f"{api_name(field)} {op} {value.sql}")


def in_(field: str, values: Sequence[Value]) -> Condition:
    if not 1 <= len(values) <= MAX_IN:
        raise CoqlError(f"'in' takes 1 to {MAX_IN} values, got {len(values)}")
    return Condition(f"{api_name(field)} in ({', '.join(v.sql for v in values)})")


def ends_with(field: str, digits: str) -> Condition:
    """``field like '%<digits>'``: the phone-suffix match."""
    return Condition(f"{api_name(field)} like '%{_check(_DIGITS, digits, 'digit suffix')}'")


def contains(field: str, digits: str) -> Condition:
    """``field like '%<digits>%'``: the digits, together, anywhere in the value."""
    return Condition(f"{api_name(field)} like '%{_check(_DIGITS, digits, 'digits')}%'")


def digits_in_order(field: str, digits: str) -> Condition:
    """``field like '%9%3%0%...%'``: the digits in this order, with anything between and around
    them — a number however it is typed (``+38 (093) 000-10-30``, ``093 000 10 30``,
    ``(093)0001030 Ivan``)."""
    spread = "%".join(_check(_DIGITS, digits, "digits"))
    return Condition(f"{api_name(field)} like '%{spread}%'")


def is_null(field: str) -> Condition:
    return Condition(f"{api_name(field)} is null")


def is_not_null(field: str) -> Condition:
    return Condition(f"{api_name(field)} is not null")


def _join(op: str, conditions: Iterable[Condition]) -> Condition:
    items = list(conditions)
    if not items:
        raise CoqlError(f"'{op}' needs at least one condition")
    sql, count = items[0].sql, items[0].criteria
    for item in items[1:]:
        # Zoho misreads "A and B and C": every pair gets its own parentheses.
        sql, count = f"({sql} {op} {item.sql})", count + item.criteria
    if count > MAX_CRITERIA:
        raise CoqlError(f"COQL allows at most {MAX_CRITERIA} criteria, got {count}")
    return Condition(sql, count)


def all_of(*conditions: Condition) -> Condition:
    return _join("and", conditions)


def any_of(*conditions: Condition) -> Condition:
    return _join("or", conditions)


def select(
    module: str,
    fields: Sequence[str],
    where: Condition,
    *,
    order_by: str | None = None,
    order: Literal["asc", "desc"] = "asc",
    limit: int = 200,
    offset: int = 0,
) -> str:
    """``select <fields> from <module> where <where> [order by ...] limit N [offset M]``."""
    if not fields:
        raise CoqlError("select needs at least one field")
    if not 1 <= limit <= MAX_LIMIT:
        raise CoqlError(f"limit must be 1..{MAX_LIMIT}, got {limit}")
    if offset < 0 or offset + limit > MAX_ROWS:
        raise CoqlError(f"COQL reaches at most {MAX_ROWS} rows (offset {offset}, limit {limit})")
    if order not in ("asc", "desc"):
        raise CoqlError(f"order must be asc or desc, got {order!r}")
    names = ", ".join(api_name(f) for f in fields)
    query = f"select {names} from {api_name(module)} where {where.sql}"
    if order_by is not None:
        query += f" order by {api_name(order_by)} {order}"
    query += f" limit {limit}"
    if offset:
        query += f" offset {offset}"
    return query


def limit_of(query: str) -> int:
    """The ``limit`` of a query (COQL's default is 200): Zoho's credit cost depends on it."""
    match = re.search(r"\blimit\s+(?:[0-9]+\s*,\s*)?([0-9]+)", query, re.IGNORECASE)
    return int(match.group(1)) if match else 200
