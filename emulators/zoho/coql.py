"""COQL: the parser and the rules Zoho enforces on a ``select_query``.

Supported: ``select f1, f2, Lookup.field from Module [where ...] [order by f [asc|desc], ...]
[limit n | limit offset, n | limit n offset m] [offset m]``.

Zoho's quirks kept on purpose:

- a condition group holds at most two conditions: ``A and B and C`` is a ``SYNTAX_ERROR``,
  ``(A and B) and C`` is fine (pairwise parentheses);
- ``in (...)`` takes at most 50 values; ``limit`` at most 2,000 rows; ``offset + limit`` at most
  100,000 (all ``LIMIT_EXCEEDED``);
- ``like '%123'`` is ends-with, ``'123%'`` starts-with, ``'%12%'`` contains;
- no ``select *``; unknown columns are ``INVALID_QUERY``.

Evaluation lives in :mod:`emulators.zoho.coql_eval`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from emulators.zoho.errors import ZohoError

MAX_LIMIT = 2000
MAX_TOTAL = 100_000
MAX_IN_VALUES = 50
DEFAULT_LIMIT = 200

KEYWORDS = frozenset(
    [
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "in",
        "like",
        "is",
        "null",
        "order",
        "by",
        "asc",
        "desc",
        "limit",
        "offset",
        "between",
        "true",
        "false",
    ]
)

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),*])
      | (?P<word>[A-Za-z_$][A-Za-z0-9_$.]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # string | number | op | punct | word | end
    text: str
    column: int

    @property
    def keyword(self) -> str | None:
        low = self.text.lower()
        return low if self.kind == "word" and low in KEYWORDS else None


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``; ``values`` holds the list of ``in``/``between``."""

    field: str
    op: str  # = != < > <= >= like not_like in not_in is_null is_not_null between
    values: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and | or
    left: Condition
    right: Condition


Condition = Comparison | BoolOp


@dataclass(slots=True)
class Query:
    fields: list[str]
    module: str
    where: Condition | None = None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def syntax_error(token: Token) -> ZohoError:
    return ZohoError(
        400,
        "SYNTAX_ERROR",
        "error occured while parsing the query",
        {"line": 1, "column": token.column, "near": token.text or "<end>"},
    )


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            start = len(text[pos:]) - len(text[pos:].lstrip()) + pos
            raise syntax_error(Token("bad", text[start : start + 10], start + 1))
        kind = match.lastgroup or "bad"
        value = match.group(kind)
        tokens.append(Token(kind, value, match.start(kind) + 1))
        pos = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect_kw(self, *words: str) -> str:
        token = self.take()
        if token.keyword not in words:
            raise syntax_error(token)
        return token.text.lower()

    def expect_punct(self, char: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != char:
            raise syntax_error(token)

    def name(self) -> str:
        token = self.take()
        if token.kind != "word" or token.keyword is not None:
            raise syntax_error(token)
        return token.text

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise syntax_error(token)
        return int(token.text)

    def literal(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.keyword in ("true", "false"):
            return token.keyword == "true"
        if token.keyword == "null":
            return None
        raise syntax_error(token)

    # -- grammar ---------------------------------------------------------------------------

    def query(self) -> Query:
        self.expect_kw("select")
        if self.tok.kind == "punct" and self.tok.text == "*":
            raise syntax_error(self.tok)
        fields = [self.name()]
        while self.tok.text == ",":
            self.take()
            fields.append(self.name())
        self.expect_kw("from")
        query = Query(fields=fields, module=self.name())
        if self.tok.keyword == "where":
            self.take()
            query.where = self.condition()
        if self.tok.keyword == "order":
            self.take()
            self.expect_kw("by")
            query.order.append(self.order_item())
            while self.tok.text == ",":
                self.take()
                query.order.append(self.order_item())
        self.limit_clause(query)
        if self.tok.kind != "end":
            raise syntax_error(self.tok)
        return query

    def order_item(self) -> tuple[str, bool]:
        name = self.name()
        if self.tok.keyword in ("asc", "desc"):
            return name, self.take().keyword == "desc"
        return name, False

    def limit_clause(self, query: Query) -> None:
        if self.tok.keyword == "limit":
            self.take()
            first = self.integer()
            if self.tok.text == ",":
                self.take()
                query.offset, query.limit = first, self.integer()
            else:
                query.limit = first
        if self.tok.keyword == "offset":
            self.take()
            query.offset = self.integer()

    def condition(self) -> Condition:
        """At most two operands per group: Zoho's pairwise-parentheses rule."""
        left = self.operand()
        if self.tok.keyword in ("and", "or"):
            op = self.take().text.lower()
            right = self.operand()
            if self.tok.keyword in ("and", "or"):
                raise syntax_error(self.tok)
            return BoolOp(op, left, right)
        return left

    def operand(self) -> Condition:
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.take()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        name = self.name()
        token = self.take()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
            return Comparison(name, op, (self.literal(),))
        word = token.keyword
        negated = False
        if word == "not":
            negated = True
            word = self.take().keyword
        if word == "like":
            pattern = self.take()
            if pattern.kind != "string":
                raise syntax_error(pattern)
            return Comparison(name, "not_like" if negated else "like", (_unquote(pattern.text),))
        if word == "in":
            self.expect_punct("(")
            values = [self.literal()]
            while self.tok.text == ",":
                self.take()
                values.append(self.literal())
            self.expect_punct(")")
            return Comparison(name, "not_in" if negated else "in", tuple(values))
        if word == "is" and not negated:
            if self.tok.keyword == "not":
                self.take()
                self.expect_kw("null")
                return Comparison(name, "is_not_null")
            self.expect_kw("null")
            return Comparison(name, "is_null")
        if word == "between" and not negated:
            low = self.literal()
            self.expect_kw("and")
            return Comparison(name, "between", (low, self.literal()))
        raise syntax_error(token)


def _walk(cond: Condition | None) -> list[Comparison]:
    if cond is None:
        return []
    if isinstance(cond, Comparison):
        return [cond]
    return [*_walk(cond.left), *_walk(cond.right)]


def parse(text: str) -> Query:
    """Parse and check Zoho's limits; raises :class:`ZohoError` as Zoho would answer."""
    query = _Parser(text).query()
    if query.limit > MAX_LIMIT:
        raise ZohoError(
            400, "LIMIT_EXCEEDED", "limit exceeded", {"by": "limit", "limit": MAX_LIMIT}
        )
    if query.offset + query.limit > MAX_TOTAL:
        raise ZohoError(
            400, "LIMIT_EXCEEDED", "limit exceeded", {"by": "offset", "limit": MAX_TOTAL}
        )
    for comp in _walk(query.where):
        if comp.op in ("in", "not_in") and len(comp.values) > MAX_IN_VALUES:
            raise ZohoError(
                400, "LIMIT_EXCEEDED", "limit exceeded", {"operator": "in", "limit": MAX_IN_VALUES}
            )
    return query


def credits_for_limit(limit: int) -> int:
    """COQL credits: 1 up to 200 rows, 2 up to 1,000, 3 up to 2,000."""
    if limit <= 200:
        return 1
    return 2 if limit <= 1000 else 3
