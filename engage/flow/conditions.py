"""Branch conditions such as ``likert <= 2`` or ``results.contact_type != none and answer > 3``.

A tiny parser (no ``eval``): comparisons of names and literals joined by and/or/not, plus
``name in [a, b]``. Names: ``answer``/``value`` (this answer), ``number``, ``category``,
the question type (``likert``, ``number``, ``yes_no``... = this answer), ``language``,
``results.NAME``, ``context.NAME``, or a bare result name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>-?\d+(?:\.\d+)?)
      | (?P<str>'[^']*'|"[^"]*")
      | (?P<op><=|>=|==|!=|<|>|=)
      | (?P<punct>[\[\](),])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in"}


class ConditionError(ValueError):
    """The condition text cannot be parsed; the message says where."""


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Lit:
    value: str | float


@dataclass(frozen=True)
class Cmp:
    left: Ref | Lit
    op: str
    right: Ref | Lit | tuple[Lit, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Cmp | BoolOp | Not | Ref


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"unexpected {text[pos:pos + 10]!r} at column {pos + 1}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "name" and value in _KEYWORDS:
            kind = "kw"
        out.append((kind, value))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ConditionError("the condition ends too early")
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.tokens:
            raise ConditionError("empty condition")
        node = self.or_()
        extra = self.peek()
        if extra is not None:
            raise ConditionError(f"unexpected {extra[1]!r}")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.peek() == ("kw", "or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.peek() == ("kw", "and"):
            self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_(self) -> Node:
        if self.peek() == ("kw", "not"):
            self.take()
            return Not(self.not_())
        if self.peek() == ("punct", "("):
            self.take()
            node = self.or_()
            if self.take() != ("punct", ")"):
                raise ConditionError("missing ')'")
            return node
        return self.cmp()

    def operand(self) -> Ref | Lit:
        kind, value = self.take()
        if kind == "num":
            return Lit(float(value))
        if kind == "str":
            return Lit(value[1:-1])
        if kind == "name":
            return Ref(value)
        raise ConditionError(f"expected a name or a value, got {value!r}")

    def literal(self) -> Lit:
        operand = self.operand()
        # inside a list a bare word is a string literal: contact_type in [none, community_event]
        return Lit(operand.name) if isinstance(operand, Ref) else operand

    def cmp(self) -> Node:
        left = self.operand()
        tok = self.peek()
        if tok is None or tok[0] not in ("op", "kw") or tok == ("kw", "and") or tok == (
            "kw",
            "or",
        ):
            if isinstance(left, Lit):
                raise ConditionError("a value alone is not a condition")
            return left
        self.take()
        if tok == ("kw", "in"):
            if self.take() != ("punct", "["):
                raise ConditionError("expected '[' after 'in'")
            items: list[Lit] = []
            while self.peek() != ("punct", "]"):
                items.append(self.literal())
                if self.peek() == ("punct", ","):
                    self.take()
            self.take()
            return Cmp(left, "in", tuple(items))
        if tok[0] != "op":
            raise ConditionError(f"unexpected {tok[1]!r}")
        right = self.operand()
        op = "==" if tok[1] == "=" else tok[1]
        return Cmp(left, op, right)


def parse_condition(text: str) -> Node:
    """Parse ``text`` into a condition tree; raises ConditionError with a readable reason."""
    return _Parser(text).parse()


def refs(node: Node) -> list[str]:
    """Every name the condition reads (for validation)."""
    if isinstance(node, Ref):
        return [node.name]
    if isinstance(node, Not):
        return refs(node.item)
    if isinstance(node, BoolOp):
        return [r for item in node.items for r in refs(item)]
    out = [node.left.name] if isinstance(node.left, Ref) else []
    if isinstance(node.right, Ref):
        out.append(node.right.name)
    return out


Value = str | float | None


def _resolve(operand: Ref | Lit, env: Mapping[str, Value], right_side: bool) -> Value:
    if isinstance(operand, Lit):
        return operand.value
    if operand.name in env:
        return env[operand.name]
    # a bare word on the right of a comparison is a string: contact_type == none
    return operand.name if right_side else None


def _num(v: Value) -> float | None:
    if isinstance(v, float):
        return v
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _compare(a: Value, op: str, b: Value) -> bool:
    if a is None or b is None:
        return op == "!=" and a != b
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return _ordered(na, op, nb)
    if op in ("<", "<=", ">", ">="):
        return False
    return _ordered(str(a).casefold(), op, str(b).casefold())


_Comparable = TypeVar("_Comparable", float, str)


def _ordered(x: _Comparable, op: str, y: _Comparable) -> bool:
    """``x op y`` for two numbers or two strings (never one of each)."""
    if op == "==":
        return x == y
    if op == "!=":
        return x != y
    if op == "<":
        return x < y
    if op == "<=":
        return x <= y
    if op == ">":
        return x > y
    return x >= y


def evaluate(node: Node, env: Mapping[str, Value]) -> bool:
    """Evaluate against ``env`` (flat names such as "answer", "results.area"). Never raises."""
    if isinstance(node, Ref):
        value = env.get(node.name)
        return value not in (None, "", 0.0, "0", "no", "false")
    if isinstance(node, Not):
        return not evaluate(node.item, env)
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(evaluate(item, env) for item in node.items)
        return any(evaluate(item, env) for item in node.items)
    left = _resolve(node.left, env, right_side=False)
    if node.op == "in":
        assert isinstance(node.right, tuple)
        return any(_compare(left, "==", item.value) for item in node.right)
    assert not isinstance(node.right, tuple)
    right = _resolve(node.right, env, right_side=True)
    return _compare(left, node.op, right)
