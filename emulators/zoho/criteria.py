"""The ``criteria`` of ``GET /crm/v8/{module}/search``.

Syntax: ``(Field:operator:value)`` groups joined by ``and``/``or``, nested in parentheses, e.g.
``((Last_Name:equals:Burns)and(Phone:starts_with:+38050))``; ``in`` and ``between`` take
comma-separated values; ``\\(``, ``\\)``, ``\\,`` and ``\\\\`` escape. Operators: ``equals``,
``not_equal``, ``starts_with``, ``in``, ``greater_than``, ``greater_equal``, ``less_than``,
``less_equal``, ``between``. Zoho has **no** ``ends_with`` here: it answers ``INVALID_QUERY``.
Text matches are case-insensitive.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from emulators.zoho.errors import ZohoError
from emulators.zoho.org import FieldDef, ModuleDef
from emulators.zoho.state import Record
from emulators.zoho.validation import parse_datetime

Predicate = Callable[[Record], bool]
OPERATORS = frozenset(
    {
        "equals",
        "not_equal",
        "starts_with",
        "in",
        "greater_than",
        "greater_equal",
        "less_than",
        "less_equal",
        "between",
    }
)
_NUMERIC = ("integer", "bigint", "currency", "double")


def invalid_criteria(reason: str, **details: Any) -> ZohoError:
    return ZohoError(400, "INVALID_QUERY", "invalid query formed", {"reason": reason, **details})


def _split_values(raw: str) -> list[str]:
    values, current, escaped = [], [], False
    for char in raw:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    values.append("".join(current))
    return values


def _comparable(fdef: FieldDef, value: Any) -> Any:
    if value is None or value == "":
        return None
    if fdef.data_type in ("lookup", "ownerlookup"):
        return str(value.get("id")) if isinstance(value, dict) else str(value)
    if fdef.data_type == "datetime":
        return value if isinstance(value, datetime) else parse_datetime(str(value))
    if fdef.data_type in _NUMERIC:
        try:  # Decimal, not float: 19-digit ids differ in their last digits
            return Decimal(str(value))
        except ArithmeticError:
            return None
    if fdef.data_type == "boolean":
        return str(value).lower() == "true" if not isinstance(value, bool) else value
    return str(value).casefold()


def _condition(module: ModuleDef, text: str) -> Predicate:
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise invalid_criteria("invalid criteria", criteria=text)
    name, op, raw = parts
    fdef = module.get(name)
    if fdef is None:
        raise invalid_criteria("invalid field", api_name=name)
    if op not in OPERATORS:
        raise invalid_criteria("invalid operator found", api_name=name, operator=op)
    values = [_comparable(fdef, v) for v in _split_values(raw)]
    if any(v is None for v in values):
        raise invalid_criteria("invalid value", api_name=name)
    if op == "between" and len(values) != 2:
        raise invalid_criteria("between needs two values", api_name=name, operator=op)

    def matches(record: Record) -> bool:
        value = _comparable(fdef, record.get(name))
        if value is None:
            return False
        try:
            if op == "equals":
                return bool(value == values[0])
            if op == "not_equal":
                return bool(value != values[0])
            if op == "starts_with":
                return str(value).startswith(str(values[0]))
            if op == "in":
                return value in values
            if op == "greater_than":
                return bool(value > values[0])
            if op == "greater_equal":
                return bool(value >= values[0])
            if op == "less_than":
                return bool(value < values[0])
            if op == "less_equal":
                return bool(value <= values[0])
            return bool(values[0] <= value <= values[1])
        except TypeError:
            return False

    return matches


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: a(r) and b(r)


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda r: a(r) or b(r)


class _Parser:
    def __init__(self, module: ModuleDef, text: str) -> None:
        self.module = module
        self.text = text
        self.pos = 0

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.pos != len(self.text):
            raise invalid_criteria("invalid criteria", criteria=self.text)
        return predicate

    def expr(self) -> Predicate:
        predicate = self.group()
        while True:
            rest = self.text[self.pos :].lower()
            if rest.startswith("and"):
                self.pos += 3
                predicate = _both(predicate, self.group())
            elif rest.startswith("or"):
                self.pos += 2
                predicate = _either(predicate, self.group())
            else:
                return predicate

    def group(self) -> Predicate:
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise invalid_criteria("invalid criteria", criteria=self.text)
        self.pos += 1
        if self.text[self.pos : self.pos + 1] == "(":
            inner = self.expr()
        else:
            start, escaped = self.pos, False
            while self.pos < len(self.text):
                char = self.text[self.pos]
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == ")":
                    break
                self.pos += 1
            inner = _condition(self.module, self.text[start : self.pos])
        if self.text[self.pos : self.pos + 1] != ")":
            raise invalid_criteria("invalid criteria", criteria=self.text)
        self.pos += 1
        return inner


def parse_criteria(module: ModuleDef, text: str) -> Predicate:
    """A predicate over stored records; raises ``INVALID_QUERY`` as Zoho would."""
    text = text.strip()
    if not text.startswith("("):
        text = f"({text})"
    return _Parser(module, text).parse()
