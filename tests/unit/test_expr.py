"""The `when` condition language: parsing, error messages, evaluation, and its safety limits."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qn_bot.flows import expr
from qn_bot.flows.expr import (
    MAX_DEPTH,
    MAX_SOURCE_LENGTH,
    And,
    Compare,
    Const,
    ExprSyntaxError,
    Name,
    Node,
    Not,
    Or,
    Value,
    parse,
)

# --- parsing ------------------------------------------------------------------------------


def test_parse_keeps_the_source_and_builds_a_tree() -> None:
    condition = parse("'juridiques' in moyens_types")
    assert condition.source == "'juridiques' in moyens_types"
    assert condition.tree == Compare("in", Const("juridiques"), Name("moyens_types"))


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("a", Name("a")),
        ("_x9", Name("_x9")),
        ("true", Const(True)),
        ("false", Const(False)),
        ("null", Const(None)),
        ("42", Const(42)),
        ("-7", Const(-7)),
        ("2.5", Const(2.5)),
        ("-0.25", Const(-0.25)),
        ("'it\\'s'", Const("it's")),
        ('"say \\"hi\\""', Const('say "hi"')),
        ("'back\\\\slash'", Const("back\\slash")),
        ("'double \" inside single'", Const('double " inside single')),
        ("[]", Const(())),
        ("['a', \"b\",]", Const(("a", "b"))),
        ("a != 'x'", Compare("!=", Name("a"), Const("x"))),
        ("a not in ['x']", Compare("not in", Name("a"), Const(("x",)))),
        ("n >= -1.5", Compare(">=", Name("n"), Const(-1.5))),
        ("a or b and c", Or((Name("a"), And((Name("b"), Name("c")))))),
        ("(a or b) and c", And((Or((Name("a"), Name("b"))), Name("c")))),
        ("a or b or c", Or((Name("a"), Name("b"), Name("c")))),
        ("not a and b", And((Not(Name("a")), Name("b")))),
        ("not a == 'x'", Not(Compare("==", Name("a"), Const("x")))),
        ("not not a", Not(Not(Name("a")))),
        ("((a))", Name("a")),
        ("(a == 1) == true", Compare("==", Compare("==", Name("a"), Const(1)), Const(True))),
        ("in_x and android", And((Name("in_x"), Name("android")))),
        ("  a\n  and\tb  ", And((Name("a"), Name("b")))),
    ],
)
def test_grammar(source: str, tree: Node) -> None:
    assert parse(source).tree == tree


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a == 'x' and (b or )", "unexpected ')' at column 20, expected a value"),
        ("a ==", "unexpected end of condition at column 5, expected a value"),
        ("", "unexpected end of condition at column 1, expected a value"),
        ("(a == b", "unexpected end of condition at column 8, expected 'and', 'or' or ')'"),
        ("a b", "unexpected name 'b' at column 3, expected a comparison operator"),
        ("a == b c", "unexpected name 'c' at column 8, expected 'and', 'or' or the end"),
        ("a == b)", "unexpected ')' at column 7, expected 'and', 'or' or the end"),
        ("a = 'x'", "unexpected '=' at column 3, use '==' to compare"),
        ("!a", "unexpected '!' at column 1, use 'not'"),
        ("a && b", "unexpected '&' at column 3, use 'and'"),
        ("a || b", "unexpected '|' at column 3, use 'or'"),
        ("a @ b", "unexpected '@' at column 3"),
        ("'abc", "unterminated string starting at column 1"),
        ("a == 'x\\n'", "unknown escape '\\n' at column 8"),
        ("1 < a < 3", "comparisons cannot be chained at column 7"),
        ("a in [b]", "unexpected name 'b' at column 7, expected a quoted string or ']'"),
        ("a in ['x' 'y']", "unexpected string 'y' at column 11, expected ',' or ']'"),
        ("a in [1]", "unexpected number 1 at column 7"),
        ("a == 1.", "malformed number at column 6"),
        ("a == 1x", "malformed number at column 6"),
        ("a == - 1", "unexpected '-' at column 6"),
        ("not", "unexpected end of condition at column 4, expected a value"),
        ("a not b", "unexpected 'not' at column 3"),
        ("and", "unexpected 'and' at column 1, expected a value"),
        ("a\nand )", "unexpected ')' at line 2, column 5, expected a value"),
    ],
)
def test_syntax_errors_say_where_and_what_was_expected(source: str, message: str) -> None:
    with pytest.raises(ExprSyntaxError) as caught:
        parse(source)
    assert message in str(caught.value)


def test_syntax_error_is_a_value_error() -> None:
    assert issubclass(ExprSyntaxError, ValueError)


def test_source_length_is_limited() -> None:
    parse("a or " * 99 + "a")  # 500 characters
    with pytest.raises(ExprSyntaxError, match=f"at most {MAX_SOURCE_LENGTH}"):
        parse("a or " * 100 + "a")


@pytest.mark.parametrize(
    ("opening", "closing"),
    [("(", ")"), ("not ", ""), ("not (", ")")],
)
def test_nesting_is_limited_without_recursion_error(opening: str, closing: str) -> None:
    parse(opening * (MAX_DEPTH // 2) + "a" + closing * (MAX_DEPTH // 2))
    deep = opening * (MAX_DEPTH + 1) + "a" + closing * (MAX_DEPTH + 1)
    assert len(deep) <= MAX_SOURCE_LENGTH
    with pytest.raises(ExprSyntaxError, match="nested too deeply"):
        parse(deep)


def test_list_literals_count_towards_nesting() -> None:
    source = "(" * MAX_DEPTH + "a in []" + ")" * MAX_DEPTH
    with pytest.raises(ExprSyntaxError, match="nested too deeply"):
        parse(source)


def test_nothing_is_ever_evaluated_as_python() -> None:
    with pytest.raises(ExprSyntaxError):
        parse("__import__('os').system('true')")
    # A name is only ever looked up among the answers.
    assert parse("__class__").evaluate({}) is False


def test_expr_is_immutable_and_hashable() -> None:
    condition = parse("a == 'x'")
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.source = "b"  # type: ignore[misc]
    assert hash(condition) == hash(parse("a == 'x'"))
    assert condition == parse("a == 'x'")


# --- names and literal comparisons ----------------------------------------------------------


def test_names() -> None:
    assert parse("a == 'x' or not (b in c) and 3 < d").names() == {"a", "b", "c", "d"}
    assert parse("'x' == 'y'").names() == frozenset()


@pytest.mark.parametrize(
    ("source", "pairs"),
    [
        ("t == 'a'", [("t", "a")]),
        ("'a' == t", [("t", "a")]),
        ("t != 'a'", [("t", "a")]),
        ("'a' in t", [("t", "a")]),
        ("'a' not in t", [("t", "a")]),
        ("t in ['a', 'b']", [("t", "a"), ("t", "b")]),
        ("t not in ['a']", [("t", "a")]),
        ("t == 'a' or not (u == 'b')", [("t", "a"), ("u", "b")]),
        ("t < 'a'", []),
        ("t == 1", []),
        ("t == u", []),
        ("'a' == 'b'", []),
        ("t", []),
    ],
)
def test_literal_comparisons(source: str, pairs: list[tuple[str, str]]) -> None:
    assert parse(source).literal_comparisons() == pairs


# --- evaluation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        # a multichoice answer is a tuple of choice ids
        ("'juridiques' in moyens_types", {"moyens_types": ("juridiques", "lexicaux")}, True),
        ("'juridiques' in moyens_types", {"moyens_types": ("lexicaux",)}, False),
        ("'juridiques' in moyens_types", {"moyens_types": ()}, False),
        ("'juridiques' in moyens_types", {}, False),
        ("'juridiques' not in moyens_types", {}, True),
        ("'juridiques' not in moyens_types", {"moyens_types": ("juridiques",)}, False),
        # unanswered steps are None
        ("t == 'x'", {}, False),
        ("t != 'x'", {}, True),
        ("t == null", {}, True),
        ("t != null", {"t": "x"}, True),
        ("t == 'x'", {"t": "x"}, True),
        ("t != 'x'", {"t": "x"}, False),
        # ordering never raises: None and mismatched types are simply false
        ("n < 3", {}, False),
        ("n >= 3", {}, False),
        ("n < 3", {"n": "2"}, False),
        ("n < 'b'", {"n": 2}, False),
        ("n < 3", {"n": True}, False),
        ("n < 3", {"n": ("a",)}, False),
        ("n < 3", {"n": 2}, True),
        ("n <= 2", {"n": 2.0}, True),
        ("n > -1.5", {"n": -1}, True),
        ("n >= 10", {"n": 9.99}, False),
        ("s < 'b'", {"s": "a"}, True),
        ("s > 'b'", {"s": "a"}, False),
        ("n < 1", {"n": 10**400}, False),  # no float() overflow
        # numbers compare across int / float, booleans only with booleans
        ("n == 2", {"n": 2.0}, True),
        ("b == true", {"b": True}, True),
        ("b == 1", {"b": True}, False),
        ("b != 1", {"b": True}, True),
        ("n == true", {"n": 1}, False),
        ("s == 1", {"s": "1"}, False),
        # `in`: membership in tuples, substring in strings, false for anything else
        ("s in ['a', 'b']", {"s": "b"}, True),
        ("s in ['a', 'b']", {"s": "c"}, False),
        ("s in ['a', 'b']", {}, False),
        ("'lo' in s", {"s": "hello"}, True),
        ("'xx' in s", {"s": "hello"}, False),
        ("'a' in n", {"n": 3}, False),
        ("3 in s", {"s": "a3"}, False),
        ("'a' not in n", {"n": 3}, True),
        # bare names use Python truthiness
        ("t", {}, False),
        ("t", {"t": ""}, False),
        ("t", {"t": ()}, False),
        ("t", {"t": 0}, False),
        ("t", {"t": "x"}, True),
        ("t", {"t": ("a",)}, True),
        ("not t", {}, True),
        # boolean logic
        ("a and b", {"a": "x", "b": "y"}, True),
        ("a and b", {"a": "x"}, False),
        ("a or b", {"b": "y"}, True),
        ("a or b", {}, False),
        ("not (a or b) and c", {"c": 1}, True),
        ("(n > 1) == true", {"n": 2}, True),
        ("true", {}, True),
        ("null", {}, False),
        ("[]", {}, False),
    ],
)
def test_evaluate(source: str, values: dict[str, Value], expected: bool) -> None:
    assert parse(source).evaluate(values) is expected


def test_a_list_given_for_a_multichoice_answer_works_like_a_tuple() -> None:
    values: dict[str, object] = {"m": ["a", "b"]}
    assert parse("'a' in m").evaluate(values) is True  # type: ignore[arg-type]
    assert parse("m == ['a', 'b']").evaluate(values) is True  # type: ignore[arg-type]


def test_format_spells_out_floats_the_language_can_read() -> None:
    tree = Compare("<", Name("n"), Const(1e20))
    assert expr._format(tree) == "n < 100000000000000000000.0"
    assert parse(expr._format(tree)).tree == tree


# --- properties -----------------------------------------------------------------------------

_ALPHABET = "abnotriqeul_01 9.-'\"\\()[],=!<>&|@\n\t"


@settings(max_examples=500)
@given(st.text(alphabet=_ALPHABET, max_size=60) | st.text(max_size=60))
def test_random_text_raises_nothing_but_syntax_errors(source: str) -> None:
    try:
        condition = parse(source)
    except ExprSyntaxError:
        return
    condition.names()
    condition.literal_comparisons()
    assert isinstance(condition.evaluate({}), bool)


_names = st.sampled_from(["a", "b", "moyens_types", "x_1"]).map(Name)
_strings = st.text(max_size=8)
_consts = st.one_of(
    st.none().map(Const),
    st.booleans().map(Const),
    st.integers(min_value=-(10**30), max_value=10**30).map(Const),
    # decimals as a person writes them; float extremes would spell out beyond 500 characters
    st.integers(min_value=-(10**9), max_value=10**9).map(lambda n: Const(n / 1000)),
    _strings.map(Const),
    st.lists(_strings, max_size=3).map(lambda items: Const(tuple(items))),
)
_ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])


def _compound(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        children.map(Not),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        st.builds(Compare, _ops, children, children),
    )


_trees: st.SearchStrategy[Node] = st.recursive(_names | _consts, _compound, max_leaves=12)
_values: st.SearchStrategy[Value] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    _strings,
    st.lists(_strings, max_size=3).map(tuple),
)


@settings(max_examples=300)
@given(_trees)
def test_format_then_parse_gives_back_the_same_tree(tree: Node) -> None:
    source = expr._format(tree)
    assert parse(source).tree == tree


@settings(max_examples=300)
@given(_trees, st.dictionaries(st.sampled_from(["a", "b", "moyens_types", "x_1"]), _values))
def test_evaluate_never_raises(tree: Node, values: dict[str, Value]) -> None:
    assert isinstance(expr.Expr(expr._format(tree), tree).evaluate(values), bool)
