"""The `when` condition language of flow files.

Facilitators write these conditions, so they are parsed by a small recursive-descent parser of
our own and evaluated by walking the tree: nothing here ever reaches eval/exec.

Grammar, lowest precedence first::

    condition  := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") operand]
    operand    := STRING | NUMBER | NAME | "true" | "false" | "null"
                | "(" or_expr ")" | "[" [STRING ("," STRING)* [","]] "]"

Evaluation never raises: an unanswered step is None, and a comparison that makes no sense
(ordering None or a string against a number) is simply false.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal as TypingLiteral
from typing import TypeVar

#: What a step's answer looks like to a condition: None when unanswered.
Value = None | bool | int | float | str | tuple[str, ...]

MAX_SOURCE_LENGTH = 500
MAX_DEPTH = 50

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})

CompareOp = TypingLiteral["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
_COMPARE_OPS: frozenset[str] = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "not in"})
_LITERAL_MATCH_OPS: frozenset[str] = frozenset({"==", "!=", "in", "not in"})


class ExprSyntaxError(ValueError):
    """The condition does not parse; the message says where and why."""


# --- tree -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    """A literal: string, number, true/false/null, or a list of strings (stored as a tuple)."""

    value: Value


@dataclass(frozen=True, slots=True)
class Name:
    """The answer of the step with this id."""

    id: str


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    op: CompareOp
    left: Node
    right: Node


Node = Const | Name | Not | And | Or | Compare


@dataclass(frozen=True, slots=True)
class Expr:
    source: str
    tree: Node

    def names(self) -> frozenset[str]:
        """The step ids the condition reads."""
        return frozenset(_names(self.tree))

    def literal_comparisons(self) -> list[tuple[str, str]]:
        """(step id, string) for each name compared with a string literal by == != in / not in.

        The loader uses it to check that a condition on a choice step names one of its choices.
        """
        found: list[tuple[str, str]] = []
        _literal_comparisons(self.tree, found)
        return found

    def evaluate(self, values: Mapping[str, Value]) -> bool:
        """True when the condition holds; names missing from ``values`` are unanswered (None)."""
        return _truthy(_eval(self.tree, values))


def _names(node: Node) -> set[str]:
    match node:
        case Name(id=name):
            return {name}
        case Const():
            return set()
        case Not(operand=operand):
            return _names(operand)
        case And(operands=operands) | Or(operands=operands):
            return set().union(*(_names(o) for o in operands))
        case Compare(left=left, right=right):
            return _names(left) | _names(right)


def _literal_comparisons(node: Node, found: list[tuple[str, str]]) -> None:
    match node:
        case Name() | Const():
            return
        case Not(operand=operand):
            _literal_comparisons(operand, found)
        case And(operands=operands) | Or(operands=operands):
            for o in operands:
                _literal_comparisons(o, found)
        case Compare(op=op, left=left, right=right):
            if op not in _LITERAL_MATCH_OPS:
                return
            for a, b in ((left, right), (right, left)):
                if isinstance(a, Name) and isinstance(b, Const):
                    if isinstance(b.value, str):
                        found.append((a.id, b.value))
                    elif isinstance(b.value, tuple):
                        found.extend((a.id, item) for item in b.value)


# --- evaluation -----------------------------------------------------------------------------


def _eval(node: Node, values: Mapping[str, Value]) -> Value:
    match node:
        case Const(value=value):
            return value
        case Name(id=name):
            return _normalize(values.get(name))
        case Not(operand=operand):
            return not _truthy(_eval(operand, values))
        case And(operands=operands):
            return all(_truthy(_eval(o, values)) for o in operands)
        case Or(operands=operands):
            return any(_truthy(_eval(o, values)) for o in operands)
        case Compare(op=op, left=left, right=right):
            return _compare(op, _eval(left, values), _eval(right, values))


def _normalize(value: object) -> Value:
    # Callers may hand us a list for a multichoice answer; the language only knows tuples.
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if value is None or isinstance(value, bool | int | float | str | tuple):
        return value
    return str(value)


def _truthy(value: Value) -> bool:
    return bool(value)


def _is_number(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Value, b: Value) -> bool:
    # Python says True == 1; a condition author comparing a yes/no answer with a number has
    # made a mistake, so booleans only ever equal booleans.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _contains(item: Value, container: Value) -> bool:
    if isinstance(container, tuple):
        return any(_equal(item, element) for element in container)
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    return False


def _compare(op: CompareOp, a: Value, b: Value) -> bool:
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op == "in":
        return _contains(a, b)
    if op == "not in":
        return not _contains(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return _order(op, a, b)
    if (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        # No float() here: a huge int would overflow it, and int/float comparison is exact.
        return _order(op, a, b)
    return False


_Ordered = TypeVar("_Ordered", str, float)


def _order(op: CompareOp, a: _Ordered, b: _Ordered) -> bool:
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


# --- tokens ---------------------------------------------------------------------------------

TokenKind = TypingLiteral["string", "number", "name", "keyword", "op", "end"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    text: str  # as written in the source
    value: str | int | float | None
    offset: int


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_OPS = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",")
_HINTS = {
    "=": "use '==' to compare",
    "!": "use 'not'",
    "&": "use 'and'",
    "|": "use 'or'",
}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"'}


def _where(source: str, offset: int) -> str:
    if "\n" not in source:
        return f"column {offset + 1}"
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch in "'\"":
            tokens.append(_read_string(source, i))
            i += len(tokens[-1].text)
            continue
        number = _NUMBER_RE.match(source, i)
        if number:
            text = number.group()
            end = number.end()
            if end < n and (source[end] == "." or _NAME_RE.match(source, end)):
                raise ExprSyntaxError(
                    f"malformed number at {_where(source, i)}: "
                    "write whole numbers like 3 or decimals like 2.5"
                )
            value: int | float = float(text) if "." in text else int(text)
            tokens.append(_Token("number", text, value, i))
            i = end
            continue
        name = _NAME_RE.match(source, i)
        if name:
            text = name.group()
            kind: TokenKind = "keyword" if text in KEYWORDS else "name"
            tokens.append(_Token(kind, text, text, i))
            i = name.end()
            continue
        op = next((o for o in _OPS if source.startswith(o, i)), None)
        if op is not None:
            tokens.append(_Token("op", op, op, i))
            i += len(op)
            continue
        hint = _HINTS.get(ch)
        message = f"unexpected {_show_char(ch)} at {_where(source, i)}"
        raise ExprSyntaxError(f"{message}, {hint}" if hint else message)
    tokens.append(_Token("end", "", None, n))
    return tokens


def _show_char(ch: str) -> str:
    return repr(ch) if ch.isprintable() else f"character U+{ord(ch):04X}"


def _read_string(source: str, start: int) -> _Token:
    quote = source[start]
    chars: list[str] = []
    i = start + 1
    while i < len(source):
        ch = source[i]
        if ch == quote:
            return _Token("string", source[start : i + 1], "".join(chars), start)
        if ch == "\\":
            nxt = source[i + 1 : i + 2]
            if nxt not in _ESCAPES:
                shown = f"'\\{nxt}'" if nxt else "'\\' at the end"
                raise ExprSyntaxError(
                    f"unknown escape {shown} at {_where(source, i)}, "
                    "only \\\\, \\' and \\\" are allowed"
                )
            chars.append(_ESCAPES[nxt])
            i += 2
            continue
        chars.append(ch)
        i += 1
    raise ExprSyntaxError(f"unterminated string starting at {_where(source, start)}")


# --- parser ---------------------------------------------------------------------------------


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.pos = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.pos]

    def at(self, kind: TokenKind, text: str) -> bool:
        return self.token.kind == kind and self.token.text == text

    def advance(self) -> _Token:
        token = self.token
        if token.kind != "end":
            self.pos += 1
        return token

    def fail(self, expected: str, token: _Token | None = None) -> ExprSyntaxError:
        token = token or self.token
        if token.kind == "end":
            shown = "end of condition"
        elif token.kind == "string":
            shown = f"string {token.text}"
        elif token.kind == "number":
            shown = f"number {token.text}"
        elif token.kind == "name":
            shown = f"name {token.text!r}"
        else:
            shown = repr(token.text)
        return ExprSyntaxError(
            f"unexpected {shown} at {_where(self.source, token.offset)}, expected {expected}"
        )

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprSyntaxError(
                f"condition nested too deeply at {_where(self.source, self.token.offset)} "
                f"(at most {MAX_DEPTH} levels of parentheses, lists and 'not')"
            )

    def leave(self) -> None:
        self.depth -= 1

    def parse(self) -> Node:
        tree = self.or_expr()
        if self.token.kind != "end":
            raise self.fail(self.expected_after(tree, "the end"))
        return tree

    def expected_after(self, node: Node, closing: str) -> str:
        if isinstance(node, Compare | Not | And | Or):
            return f"'and', 'or' or {closing}"
        return f"a comparison operator, 'and', 'or' or {closing}"

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.at("keyword", "or"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.at("keyword", "and"):
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Node:
        if self.at("keyword", "not"):
            self.advance()
            self.enter()
            operand = self.not_expr()
            self.leave()
            return Not(operand)
        return self.comparison()

    def compare_op(self) -> CompareOp | None:
        token = self.token
        if token.kind == "op" and token.text in _COMPARE_OPS:
            return _as_op(token.text)
        if self.at("keyword", "in"):
            return "in"
        if self.at("keyword", "not"):
            following = self.tokens[self.pos + 1]
            if following.kind == "keyword" and following.text == "in":
                return "not in"
        return None

    def comparison(self) -> Node:
        left = self.operand()
        op = self.compare_op()
        if op is None:
            return left
        self.pos += 2 if op == "not in" else 1
        right = self.operand()
        if self.compare_op() is not None:
            raise ExprSyntaxError(
                f"comparisons cannot be chained at {_where(self.source, self.token.offset)}, "
                "join them with 'and'"
            )
        return Compare(op, left, right)

    def operand(self) -> Node:
        token = self.token
        if token.kind == "string" or token.kind == "number":
            self.advance()
            assert token.value is not None
            return Const(token.value)
        if token.kind == "name":
            self.advance()
            return Name(token.text)
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            self.advance()
            return Const({"true": True, "false": False, "null": None}[token.text])
        if self.at("op", "("):
            self.advance()
            self.enter()
            inner = self.or_expr()
            if not self.at("op", ")"):
                raise self.fail(self.expected_after(inner, "')'"))
            self.advance()
            self.leave()
            return inner
        if self.at("op", "["):
            return self.list_literal()
        raise self.fail("a value")

    def list_literal(self) -> Const:
        self.advance()
        self.enter()
        items: list[str] = []
        while not self.at("op", "]"):
            token = self.token
            if token.kind != "string":
                raise self.fail("a quoted string or ']'" if not items else "a quoted string")
            assert isinstance(token.value, str)
            items.append(token.value)
            self.advance()
            if self.at("op", ","):
                self.advance()
            elif not self.at("op", "]"):
                raise self.fail("',' or ']'")
        self.advance()
        self.leave()
        return Const(tuple(items))


def _as_op(text: str) -> CompareOp:
    for op in ("==", "!=", "<", "<=", ">", ">=", "in", "not in"):
        if op == text:
            return op
    raise AssertionError(text)


def parse(source: str) -> Expr:
    """Parse a condition; raises ExprSyntaxError saying where and what was expected."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExprSyntaxError(
            f"condition is {len(source)} characters long, at most {MAX_SOURCE_LENGTH} are allowed"
        )
    return Expr(source, _Parser(source).parse())


# --- printing -------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _format_number(value: float) -> str:
    text = repr(value)
    if "e" in text or "E" in text:
        # The language has no exponent notation: spell the same float out in full.
        text = format(Decimal(text), "f")
    if isinstance(value, float) and "." not in text:
        text += ".0"
    return text


def _precedence(node: Node) -> int:
    match node:
        case Or():
            return 1
        case And():
            return 2
        case Not():
            return 3
        case Compare():
            return 4
        case Const() | Name():
            return 5


def _format(node: Node) -> str:
    """Canonical source of a tree, such that parse(_format(t)).tree == t."""
    match node:
        case Const(value=value):
            if value is None:
                return "null"
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, str):
                return _quote(value)
            if isinstance(value, tuple):
                return "[" + ", ".join(_quote(v) for v in value) + "]"
            return _format_number(value)
        case Name(id=name):
            return name
        case Not(operand=operand):
            return "not " + _wrap(operand, above=2)
        case And(operands=operands):
            return " and ".join(_wrap(o, above=2) for o in operands)
        case Or(operands=operands):
            return " or ".join(_wrap(o, above=1) for o in operands)
        case Compare(op=op, left=left, right=right):
            return f"{_wrap(left, above=4)} {op} {_wrap(right, above=4)}"


def _wrap(node: Node, *, above: int) -> str:
    # Parenthesize unless the child binds tighter than ``above``; equal precedence is wrapped
    # too, so nested and/or keep their shape.
    text = _format(node)
    return text if _precedence(node) > above else f"({text})"
