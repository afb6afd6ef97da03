"""Flow files: each rejection names file, step and problem; the template follows the seed."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from qn_bot.errors import FlowError, FlowProblem
from qn_bot.flows.format import Flow, StepKind
from qn_bot.flows.loader import (
    builtin_flow_paths,
    load_flow_file,
    load_flow_text,
    resolve_flow,
)

SEED = Path(__file__).resolve().parents[1] / "data" / "seed_construire_2030.txt"

ONE_LANGUAGE = """
id = "mini"
version = 1
languages = ["fr"]
title = "Mini"
"""

TWO_LANGUAGES = """
id = "duo"
version = 1
languages = ["fr", "en"]
title = { fr = "Duo", en = "Duo" }
"""


def write(tmp_path: Path, text: str, name: str = "flow.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[FlowProblem]:
    path = write(tmp_path, text)
    with pytest.raises(FlowError) as caught:
        load_flow_file(path)
    found = caught.value.problems
    assert found, "a FlowError must carry its problems"
    for p in found:
        assert p.file == str(path)
        assert str(path) in str(caught.value)
    return found


def only_problem(tmp_path: Path, text: str) -> FlowProblem:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def steps(*blocks: str, header: str = ONE_LANGUAGE) -> str:
    return header + "".join(f"\n[[steps]]\n{block.strip()}\n" for block in blocks)


LIST_STEP = 'id = "l"\nkind = "list"\nprompt = "Quoi ?"'
CHOICE_STEP = """
id = "c"
kind = "choice"
prompt = "Lequel ?"
choices = [{ id = "oui", label = "Oui" }, { id = "non", label = "Non" }]
"""


# --- valid flows ----------------------------------------------------------------------------


def test_a_one_language_flow_may_use_plain_strings(tmp_path: Path) -> None:
    text = steps(
        'id = "bonjour"\nkind = "info"\nprompt = "Bonjour"',
        'id = "ok"\nkind = "consent"\nprompt = "D\'accord ?"',
        LIST_STEP + '\nexamples = ["un", "deux"]\nmax_items = 3\nmax_length = 50\nmin_items = 1',
        'id = "t"\nkind = "text"\nprompt = "Dites"\nrequired = true\nhelp = "Librement"',
        CHOICE_STEP + '\nwhen = "l"',
        'id = "s"\nkind = "scale"\nprompt = "Note ?"\nwhen = "c == \'oui\'"',
        'id = "n"\nkind = "number"\nprompt = "Combien ?"\nmin = 0\nmax = 2.5\ninteger = false',
    )
    flow = load_flow_file(write(tmp_path, text))
    assert isinstance(flow, Flow)
    assert flow.id == "mini"
    assert flow.languages == ("fr",)
    assert flow.title.get("fr") == "Mini"
    assert flow.source == text
    assert [s.id for s in flow.steps] == ["bonjour", "ok", "l", "t", "c", "s", "n"]
    listing = flow.step("l")
    assert listing.kind is StepKind.LIST
    assert listing.examples == {"fr": ("un", "deux")}
    assert (listing.min_items, listing.max_items, listing.max_length) == (1, 3, 50)
    assert flow.step("t").required is True
    assert flow.step("t").help is not None
    choice = flow.step("c")
    assert [c.id for c in choice.choices] == ["oui", "non"]
    assert choice.when is not None
    assert choice.when_source == "l"
    scale = flow.step("s")
    assert (scale.min_value, scale.max_value) == (1, 5)
    assert scale.when is not None
    assert scale.when.evaluate({"c": "oui"}) is True
    number = flow.step("n")
    assert (number.min_value, number.max_value, number.integer) == (0, 2.5, False)
    assert flow.step("ok").choices == ()


def test_defaults_come_from_the_format(tmp_path: Path) -> None:
    flow = load_flow_file(
        write(tmp_path, steps(LIST_STEP, 'id = "t"\nkind = "text"\nprompt = "T"'))
    )
    listing, text = flow.steps
    assert (listing.min_items, listing.max_items, listing.max_length) == (0, 20, 1000)
    assert text.max_length == 1000
    assert text.required is False
    assert listing.examples == {}


def test_a_two_language_flow(tmp_path: Path) -> None:
    text = steps(
        """
id = "l"
kind = "list"
prompt = { en = "What?", fr = "Quoi ?" }
section = { fr = "Section", en = "Section" }
examples = { fr = ["un", "deux"], en = ["one"] }
""",
        """
id = "c"
kind = "multichoice"
prompt = { fr = "Lesquels ?", en = "Which?" }
choices = [{ id = "a", label = { fr = "A", en = "A" } }]
""",
        """
id = "only_fr_examples"
kind = "text"
prompt = { fr = "Texte", en = "Text" }
examples = { fr = ["un"] }
when = "'a' in c"
""",
        header=TWO_LANGUAGES,
    )
    flow = load_flow_file(write(tmp_path, text))
    assert flow.default_language == "fr"
    prompt = flow.step("l").prompt
    assert prompt.get("en") == "What?"
    assert list(prompt.values) == ["fr", "en"]  # declared order, whatever the file's order
    assert flow.step("l").examples == {"fr": ("un", "deux"), "en": ("one",)}
    assert flow.step("only_fr_examples").examples == {"fr": ("un",)}


def test_a_loaded_flow_is_immutable(tmp_path: Path) -> None:
    text = steps(
        CHOICE_STEP,
        LIST_STEP + '\nexamples = ["un"]',
    )
    flow = load_flow_file(write(tmp_path, text))
    assert isinstance(flow.steps, tuple)
    assert isinstance(flow.languages, tuple)
    assert isinstance(flow.title.values, MappingProxyType)
    assert isinstance(flow.step("l").examples, MappingProxyType)
    assert isinstance(flow.step("l").examples["fr"], tuple)
    assert isinstance(flow.step("c").choices, tuple)
    assert isinstance(flow.step("c").choices[0].label.values, MappingProxyType)


def test_load_flow_text_uses_the_given_file_name() -> None:
    with pytest.raises(FlowError) as caught:
        load_flow_text("id = ", "somewhere/flow.toml")
    assert caught.value.problems[0].file == "somewhere/flow.toml"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + steps(LIST_STEP).encode())
    assert load_flow_file(path).id == "mini"


# --- file-level problems -------------------------------------------------------------------


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, 'id = "x"\nversion = 1\nlanguages = ["fr"\ntitle = "T"\n')
    assert problem.step is None
    assert "TOML syntax error" in problem.problem
    assert "line 4" in problem.problem


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(FlowError) as caught:
        load_flow_file(path)
    assert caught.value.problems == [FlowProblem(str(path), None, "file not found")]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('title = "Été"'.encode("latin-1"))
    with pytest.raises(FlowError, match="not UTF-8"):
        load_flow_file(path)


def test_missing_top_level_keys_are_all_reported(tmp_path: Path) -> None:
    found = problems(tmp_path, "")
    assert {p.problem for p in found} == {
        f"missing required key {key!r}" for key in ("id", "version", "languages", "title", "steps")
    }
    assert all(p.step is None for p in found)


def test_unknown_top_level_key_lists_the_allowed_ones(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps(LIST_STEP) + '\n[extra]\nname = "x"\n')
    assert problem.step is None
    assert problem.problem == (
        "unknown key 'extra'; allowed keys: "
        "id, version, languages, title, description, steps, links"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('id = "Construire 2030"', "is not a valid flow id"),
        ("id = 3", "is not a valid flow id"),
        ("version = 0", "version must be a positive integer"),
        ("version = -1", "version must be a positive integer"),
        ('version = "1"', "version must be a positive integer"),
        ("version = true", "version must be a positive integer"),
        ("version = 1.5", "version must be a positive integer"),
        ("languages = []", "languages must be a non-empty list"),
        ('languages = "fr"', "languages must be a non-empty list"),
        ('languages = ["fr", "fr"]', "language 'fr' is listed twice"),
        ('languages = ["French"]', "language 'French' is not a language code"),
        ("languages = [1]", "language 1 is not a language code"),
        ("title = 3", "title must be a string or a table of languages"),
        ('title = ""', "title is empty"),
        ('description = ["x"]', "description must be a string or a table"),
    ],
)
def test_top_level_values(tmp_path: Path, line: str, message: str) -> None:
    key = line.split(" = ")[0]
    base = {
        "id": 'id = "mini"',
        "version": "version = 1",
        "languages": 'languages = ["fr"]',
        "title": 'title = "Mini"',
    }
    base[key] = line
    header = "\n".join(base.values()) + "\n"
    found = problems(tmp_path, steps(LIST_STEP, header=header))
    assert any(message in p.problem and p.step is None for p in found), found


def test_steps_must_be_an_array_of_tables(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, ONE_LANGUAGE + "steps = []\n")
    assert "steps must be a non-empty array of tables" in problem.problem
    problem = only_problem(tmp_path, ONE_LANGUAGE + 'steps = ["x"]\n')
    assert problem.step == "#1"
    assert "a step must be a table" in problem.problem


# --- step-level problems -------------------------------------------------------------------


def test_unknown_step_key(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps(LIST_STEP + '\nquestion = "x"'))
    assert problem.step == "l"
    assert problem.problem.startswith("unknown key 'question'; allowed keys: id, kind, prompt,")
    assert "min_items, max_items, max_length, min, max, integer" in problem.problem
    assert "file" not in problem.problem


def test_missing_step_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, steps('section = "S"'))
    assert {p.problem for p in found} == {
        "missing required key 'id'",
        "missing required key 'kind'",
        "missing required key 'prompt'",
    }
    assert {p.step for p in found} == {"#1"}  # no id: the step is named by its position


@pytest.mark.parametrize("step_id", ["Meurt", "1er", "ce-qui-meurt", "_x", "", "a" * 65])
def test_step_id_pattern(tmp_path: Path, step_id: str) -> None:
    problem = only_problem(tmp_path, steps(f'id = "{step_id}"\nkind = "list"\nprompt = "Q"'))
    assert f"step id {step_id!r} is not valid" in problem.problem


def test_duplicate_step_ids(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps(LIST_STEP, LIST_STEP))
    assert problem == FlowProblem(problem.file, "l", "duplicate step id 'l'")


def test_unknown_kind(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps('id = "q"\nkind = "question"\nprompt = "Q"'))
    assert problem.step == "q"
    assert problem.problem == (
        "kind 'question' is not one of "
        "info, consent, text, list, choice, multichoice, scale, number"
    )


def test_plain_string_needs_a_one_language_flow(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps(LIST_STEP, header=TWO_LANGUAGES))
    assert problem.step == "l"
    assert "prompt is a plain string, but the flow has several languages (fr, en)" in (
        problem.problem
    )


def test_a_missing_language_is_an_error(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, steps('id = "l"\nkind = "list"\nprompt = { fr = "Quoi ?" }', header=TWO_LANGUAGES)
    )
    assert problem == FlowProblem(problem.file, "l", "prompt lacks 'en'")


def test_an_undeclared_language_is_an_error(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        steps('id = "l"\nkind = "list"\nprompt = "Quoi ?"\nsection = { fr = "S", de = "S" }'),
    )
    assert problem.step == "l"
    assert problem.problem == "section has 'de', which is not a language of the flow (fr)"


@pytest.mark.parametrize("key", ["title", "description"])
def test_top_level_texts_need_every_language(tmp_path: Path, key: str) -> None:
    header = TWO_LANGUAGES.replace('title = { fr = "Duo", en = "Duo" }', "")
    header += 'title = { fr = "Duo", en = "Duo" }\n' if key != "title" else ""
    header += f'{key} = {{ fr = "Duo" }}\n'
    problem = only_problem(
        tmp_path, steps('id = "l"\nkind = "list"\nprompt = { fr = "Q", en = "Q" }', header=header)
    )
    assert problem == FlowProblem(problem.file, None, f"{key} lacks 'en'")


@pytest.mark.parametrize("key", ["section", "part", "help"])
def test_every_step_text_needs_every_language(tmp_path: Path, key: str) -> None:
    step = f'id = "l"\nkind = "list"\nprompt = {{ fr = "Q", en = "Q" }}\n{key} = {{ en = "S" }}'
    problem = only_problem(tmp_path, steps(step, header=TWO_LANGUAGES))
    assert problem == FlowProblem(problem.file, "l", f"{key} lacks 'fr'")


def test_texts_must_not_be_empty_or_of_another_type(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        steps(
            'id = "l"\nkind = "list"\nprompt = { fr = " ", en = 3 }\nsection = ["x"]',
            header=TWO_LANGUAGES,
        ),
    )
    assert {p.problem for p in found} == {
        "prompt in 'fr' is empty",
        "prompt in 'en' must be a string, not an integer",
        "section must be a string or a table of languages, not a list",
    }


# --- examples ---------------------------------------------------------------------------------


def test_examples_in_a_two_language_flow_need_a_table(tmp_path: Path) -> None:
    step = 'id = "l"\nkind = "list"\nprompt = { fr = "Q", en = "Q" }\nexamples = ["un"]'
    problem = only_problem(tmp_path, steps(step, header=TWO_LANGUAGES))
    assert "examples is a plain list, but the flow has several languages" in problem.problem


def test_examples_may_be_a_table_in_a_one_language_flow(tmp_path: Path) -> None:
    flow = load_flow_file(write(tmp_path, steps(LIST_STEP + '\nexamples = { fr = ["un"] }')))
    assert flow.step("l").examples == {"fr": ("un",)}


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        ('{ de = ["eins"] }', "examples has 'de', which is not a language of the flow (fr)"),
        ('"un"', "examples must be a list of strings or a table of lists, not a string"),
        ('{ fr = "un" }', "examples in 'fr' must be a list of strings, not a string"),
        ('["un", 2]', "examples: item 2 must be a non-empty string"),
        ('["un", ""]', "examples: item 2 must be a non-empty string"),
        (
            '["' + "x" * 11 + '"]',
            "examples: item 1 has 11 characters, more than max_length (10)",
        ),
    ],
)
def test_examples_shape(tmp_path: Path, examples: str, message: str) -> None:
    step = LIST_STEP + f"\nmax_length = 10\nexamples = {examples}"
    problem = only_problem(tmp_path, steps(step))
    assert problem.step == "l"
    assert message in problem.problem


# --- choices --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["choice", "multichoice"])
@pytest.mark.parametrize("choices", ["", "choices = []"])
def test_choice_steps_need_choices(tmp_path: Path, kind: str, choices: str) -> None:
    problem = only_problem(tmp_path, steps(f'id = "c"\nkind = "{kind}"\nprompt = "Q"\n{choices}'))
    assert problem == FlowProblem(
        problem.file, "c", f"a {kind} step needs a non-empty 'choices' list"
    )


@pytest.mark.parametrize("kind", ["info", "text", "list", "scale", "number"])
def test_other_kinds_take_no_choices(tmp_path: Path, kind: str) -> None:
    step = f'id = "s"\nkind = "{kind}"\nprompt = "Q"\nchoices = [{{ id = "a", label = "A" }}]'
    problem = only_problem(tmp_path, steps(step))
    assert problem.step == "s"
    assert problem.problem == (
        f"'choices' does not apply to a {kind} step (only to consent, choice, multichoice)"
    )


def test_unknown_choice_key(tmp_path: Path) -> None:
    step = 'id = "c"\nkind = "choice"\nprompt = "Q"\nchoices = [{ id = "a", label = "A", x = 1 }]'
    problem = only_problem(tmp_path, steps(step))
    assert problem == FlowProblem(
        problem.file, "c", "unknown key 'x' in choice 'a'; allowed keys: id, label"
    )


def test_choice_problems(tmp_path: Path) -> None:
    step = """
id = "c"
kind = "choice"
prompt = { fr = "Q", en = "Q" }
choices = [
  { id = "a", label = { fr = "A", en = "A" } },
  { id = "a", label = { fr = "A bis", en = "A bis" } },
  { id = "B", label = { fr = "B", en = "B" } },
  { id = "c", label = { fr = "C" } },
  { label = { fr = "D", en = "D" } },
  { id = "e" },
  "f",
]
"""
    found = problems(tmp_path, steps(step, header=TWO_LANGUAGES))
    assert all(p.step == "c" for p in found)
    assert [p.problem for p in found] == [
        "duplicate choice id 'a'",
        "choice id 'B' is not valid: use lowercase letters, digits and '_', starting with a letter",
        "choice 'c' label lacks 'en'",
        "choice #5 lacks its 'id'",
        "choice 'e' lacks its 'label'",
        "choice #7 must be a table, not a string",
    ]


def test_consent_may_give_accept_and_refuse(tmp_path: Path) -> None:
    step = """
id = "ok"
kind = "consent"
prompt = "D'accord ?"
choices = [{ id = "refuse", label = "Non merci" }, { id = "accept", label = "Volontiers" }]
"""
    flow = load_flow_file(write(tmp_path, steps(step)))
    assert [c.id for c in flow.step("ok").choices] == ["refuse", "accept"]


@pytest.mark.parametrize(
    "choices",
    [
        '[{ id = "accept", label = "Oui" }]',
        '[{ id = "accept", label = "Oui" }, { id = "non", label = "Non" }]',
        '[{ id = "accept", label = "Oui" }, { id = "refuse", label = "Non" },'
        ' { id = "peut_etre", label = "?" }]',
    ],
)
def test_consent_choices_are_exactly_accept_and_refuse(tmp_path: Path, choices: str) -> None:
    found = problems(
        tmp_path, steps(f'id = "ok"\nkind = "consent"\nprompt = "Q"\nchoices = {choices}')
    )
    assert any("'accept' and 'refuse'" in p.problem for p in found), found
    assert all(p.step == "ok" for p in found)


# --- kind-specific keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "line", "allowed"),
    [
        ("text", "min_items = 1", "list"),
        ("choice", "max_items = 3", "list"),
        ("number", "max_length = 30", "text, list"),
        ("info", "examples = ['x']", "text, list, choice, multichoice, scale, number"),
        ("consent", "examples = ['x']", "text, list, choice, multichoice, scale, number"),
        ("list", "required = true", "text, choice, multichoice, scale, number"),
        ("info", "required = true", "text, choice, multichoice, scale, number"),
        ("list", "min = 1", "scale, number"),
        ("text", "max = 1", "scale, number"),
        ("scale", "integer = true", "number"),
    ],
)
def test_keys_that_do_not_fit_the_kind(tmp_path: Path, kind: str, line: str, allowed: str) -> None:
    extra = '\nchoices = [{ id = "a", label = "A" }]' if kind == "choice" else ""
    problem = only_problem(
        tmp_path, steps(f'id = "s"\nkind = "{kind}"\nprompt = "Q"{extra}\n{line}')
    )
    key = line.split(" = ")[0]
    assert problem == FlowProblem(
        problem.file, "s", f"{key!r} does not apply to a {kind} step (only to {allowed})"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("min_items = -1", "min_items must be between 0 and 1000, not -1"),
        ("max_items = 0", "max_items must be between 1 and 1000, not 0"),
        ("max_items = 1001", "max_items must be between 1 and 1000, not 1001"),
        ('max_items = "3"', "max_items must be an integer, not a string"),
        ("max_items = true", "max_items must be an integer, not a boolean"),
        ("max_length = 0", "max_length must be between 1 and 10000, not 0"),
        ("max_length = 10001", "max_length must be between 1 and 10000, not 10001"),
        ("max_length = 2.5", "max_length must be an integer, not a decimal number"),
        ("min_items = 5\nmax_items = 4", "min_items (5) is greater than max_items (4)"),
    ],
)
def test_list_sizes(tmp_path: Path, line: str, message: str) -> None:
    problem = only_problem(tmp_path, steps(f"{LIST_STEP}\n{line}"))
    assert problem == FlowProblem(problem.file, "l", message)


def test_text_max_length(tmp_path: Path) -> None:
    flow = load_flow_file(
        write(tmp_path, steps('id = "t"\nkind = "text"\nprompt = "Q"\nmax_length = 10000'))
    )
    assert flow.step("t").max_length == 10000


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("min = 1.5", "min of a scale must be an integer, not 1.5"),
        ('max = "5"', "max of a scale must be an integer, not '5'"),
        ("min = 5\nmax = 5", "min (5) must be less than max (5)"),
        ("min = 0\nmax = 100", "a scale offers at most 21 points; 0..100 has 101"),
        ("max = 0", "min (1) must be less than max (0)"),
    ],
)
def test_scale_bounds(tmp_path: Path, lines: str, message: str) -> None:
    problem = only_problem(tmp_path, steps(f'id = "s"\nkind = "scale"\nprompt = "Q"\n{lines}'))
    assert problem == FlowProblem(problem.file, "s", message)


def test_scale_bounds_given(tmp_path: Path) -> None:
    flow = load_flow_file(
        write(tmp_path, steps('id = "s"\nkind = "scale"\nprompt = "Q"\nmin = 0\nmax = 10'))
    )
    assert (flow.step("s").min_value, flow.step("s").max_value) == (0, 10)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('min = "0"', "min must be a number, not '0'"),
        ("max = true", "max must be a number, not True"),
        ("min = 3\nmax = 2", "min (3) is greater than max (2)"),
        ('integer = "yes"', "integer must be true or false, not 'yes'"),
        ("required = 1", "required must be true or false, not 1"),
    ],
)
def test_number_keys(tmp_path: Path, lines: str, message: str) -> None:
    problem = only_problem(tmp_path, steps(f'id = "n"\nkind = "number"\nprompt = "Q"\n{lines}'))
    assert problem == FlowProblem(problem.file, "n", message)


def test_number_without_bounds(tmp_path: Path) -> None:
    flow = load_flow_file(write(tmp_path, steps('id = "n"\nkind = "number"\nprompt = "Q"')))
    number = flow.step("n")
    assert (number.min_value, number.max_value, number.integer) == (None, None, True)


# --- when -------------------------------------------------------------------------------------


def test_when_syntax_error_carries_the_parser_message(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps(CHOICE_STEP, LIST_STEP + "\nwhen = \"c == 'oui' or )\""))
    assert problem.step == "l"
    assert problem.problem == (
        "when \"c == 'oui' or )\": unexpected ')' at column 15, expected a value"
    )


def test_when_must_be_a_string(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps(CHOICE_STEP, LIST_STEP + "\nwhen = true"))
    assert problem == FlowProblem(problem.file, "l", "when must be a string, not a boolean")


def test_when_refers_to_unknown_step(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps(LIST_STEP + '\nwhen = "x"'))
    assert problem == FlowProblem(problem.file, "l", "when refers to unknown step 'x'")


def test_when_refers_to_a_later_step(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps(LIST_STEP + "\nwhen = \"c == 'oui'\"", CHOICE_STEP))
    assert problem == FlowProblem(problem.file, "l", "when refers to step 'c' which comes later")


def test_when_refers_to_its_own_step(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, steps(LIST_STEP + '\nwhen = "l"'))
    assert problem.step == "l"
    assert "when refers to the step itself" in problem.problem


def test_when_refers_to_an_info_step(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, steps('id = "i"\nkind = "info"\nprompt = "I"', LIST_STEP + '\nwhen = "i"')
    )
    assert problem.step == "l"
    assert "info step, which never has an answer" in problem.problem


@pytest.mark.parametrize(
    "condition",
    ["c == 'aucun'", "'aucun' != c", "'aucun' in c", "c not in ['oui', 'aucun']"],
)
def test_when_compares_a_choice_step_with_one_of_its_choices(
    tmp_path: Path, condition: str
) -> None:
    problem = only_problem(tmp_path, steps(CHOICE_STEP, LIST_STEP + f'\nwhen = "{condition}"'))
    assert problem == FlowProblem(
        problem.file, "l", "when: 'aucun' is not a choice of step 'c' (its choices: oui, non)"
    )


def test_when_literals_against_other_steps_are_free(tmp_path: Path) -> None:
    text = steps('id = "t"\nkind = "text"\nprompt = "T"', LIST_STEP + "\nwhen = \"'vélo' in t\"")
    assert load_flow_file(write(tmp_path, text)).step("l").when is not None


def test_when_on_a_consent_step(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, steps(LIST_STEP, 'id = "ok"\nkind = "consent"\nprompt = "Q"\nwhen = "l"')
    )
    assert problem.step == "ok"
    assert problem.problem.startswith("'when' does not apply to a consent step")


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = steps(
        'id = "a"\nkind = "list"\nprompt = { fr = "Q" }\nfoo = 1',
        'id = "a"\nkind = "quiz"\nprompt = { fr = "Q", en = "Q" }',
        'id = "b"\nkind = "list"\nprompt = { fr = "Q", en = "Q" }\nwhen = "zzz"',
        header=TWO_LANGUAGES.replace("version = 1", "version = 0"),
    )
    found = problems(tmp_path, text)
    assert [(p.step, p.problem.split(";")[0].split(" (")[0]) for p in found] == [
        (None, "version must be a positive integer, not 0"),
        ("a", "unknown key 'foo'"),
        ("a", "prompt lacks 'en'"),
        (
            "a",
            "kind 'quiz' is not one of info, consent, text, list, choice, multichoice, scale,"
            " number",
        ),
        ("a", "duplicate step id 'a'"),
        ("b", "when refers to unknown step 'zzz'"),
    ]
    assert str(found[1]) == f"{found[1].file}: step 'a': {found[1].problem}"


# --- built-in flows ---------------------------------------------------------------------------


def test_builtin_flow_paths() -> None:
    paths = builtin_flow_paths()
    assert [p.name for p in paths] == ["construire-2030.toml"]
    assert all(p.is_file() for p in paths)


def test_resolve_flow_by_id_and_by_path(tmp_path: Path) -> None:
    builtin = resolve_flow("construire-2030")
    assert builtin.id == "construire-2030"
    path = write(tmp_path, steps(LIST_STEP))
    assert resolve_flow(str(path)).id == "mini"


def test_resolve_flow_unknown() -> None:
    with pytest.raises(FlowError) as caught:
        resolve_flow("nope-2040")
    (problem,) = caught.value.problems
    assert problem.file == "nope-2040"
    assert "construire-2030" in problem.problem


# --- the Construire 2030 template -------------------------------------------------------------

EXPECTED_ORDER = [
    "pourquoi",
    "meurt",
    "dysfonctionne",
    "nait",
    "horizons",
    "moyens_types",
    "moyens_juridiques",
    "moyens_politico_techniques",
    "moyens_lexicaux",
    "moyens_financement",
    "moyens_economiques",
    "acteurs",
    "merci",
]

#: The seed's headings, in page order, and the step their bullets belong to (None: not a step).
SEED_HEADINGS = [
    ("1 - Pourquoi tout va changer", "pourquoi"),
    ("Quels seraient les principaux", None),
    ("Ce qui meurt", "meurt"),
    ("Ce qui ne peut plus fonctionner", "dysfonctionne"),
    ("Ce qui naît", "nait"),
    ("2 – Expérimenter et construire", None),
    ("Des horizons souhaitables", "horizons"),
    ("Avec quels moyens", None),
    ("1) Des moyens juridiques", "moyens_juridiques"),
    ("2 ) Des dispositifs politico techniques", "moyens_politico_techniques"),
    ("3) Des moyens lexicaux opérationnels", "moyens_lexicaux"),
    ("4) Des modes de financement", "moyens_financement"),
    ("5) Des moyens économiques organisationnels", "moyens_economiques"),
    ("6) Avec quels acteurs", "acteurs"),
    ("Conception & réalisation", None),
]


def seed_bullets() -> dict[str, list[str]]:
    """The seed page's bullets by step; "> …" sub-bullets join their parent bullet."""
    bullets: dict[str, list[str]] = {}
    current: str | None = None
    headings_seen = []
    for line in SEED.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        for prefix, step in SEED_HEADINGS:
            if stripped.startswith(prefix):
                current = step
                headings_seen.append(prefix)
        if stripped.startswith("• "):
            assert current is not None, line
            bullets.setdefault(current, []).append(stripped[2:].strip())
        elif stripped.startswith("> "):
            assert current is not None, line
            bullets[current][-1] += " " + stripped
    assert headings_seen == [prefix for prefix, _ in SEED_HEADINGS]
    return bullets


@pytest.fixture(scope="module")
def template() -> Flow:
    (path,) = builtin_flow_paths()
    return load_flow_file(path)


def test_template_header(template: Flow) -> None:
    assert template.id == "construire-2030"
    assert template.version == 1
    assert template.languages == ("fr", "en")
    assert template.title.get("fr") == "Construire 2030"


def test_template_order(template: Flow) -> None:
    kinds = [s.kind for s in template.steps]
    assert kinds[:2] == [StepKind.INFO, StepKind.CONSENT]
    assert [s.id for s in template.steps[2:]] == EXPECTED_ORDER
    assert template.step("moyens_types").kind is StepKind.MULTICHOICE
    assert template.step("merci").kind is StepKind.INFO
    for step_id in EXPECTED_ORDER:
        if step_id not in ("moyens_types", "merci"):
            assert template.step(step_id).kind is StepKind.LIST, step_id


def test_template_intro_consent_and_thanks(template: Flow) -> None:
    intro = template.steps[0].prompt.get("fr")
    for word in ("Questions Numériques", "Construire 2030", "/suivant", "/exemple", "/aide"):
        assert word in intro
    consent = template.steps[1].prompt.get("fr")
    for word in ("pseudonyme", "/oublier", "/mes_donnees"):
        assert word in consent
    assert "/mes_reponses" in template.step("merci").prompt.get("fr")
    assert "/my_answers" in template.step("merci").prompt.get("en")


def test_template_texts_exist_in_both_languages(template: Flow) -> None:
    for step in template.steps:
        for text in (step.prompt, step.section, step.part, step.help):
            if text is not None:
                assert set(text.values) == {"fr", "en"}, step.id
        for choice in step.choices:
            assert set(choice.label.values) == {"fr", "en"}


def test_template_sections_and_parts(template: Flow) -> None:
    # Compared as typed (the template has real typography: test_french_typography checks it).
    fr = {s.id: _plain(s.section.get("fr")) for s in template.steps if s.section is not None}
    assert fr["pourquoi"] == "Pourquoi tout va changer ?"
    assert fr["meurt"] == "Ce qui meurt"
    assert fr["dysfonctionne"] == "Ce qui ne peut plus fonctionner demain comme aujourd'hui"
    assert fr["nait"] == "Ce qui naît, émerge, et change tout"
    assert fr["horizons"] == "Des horizons souhaitables ?"
    assert fr["acteurs"] == "Avec quels acteurs ?"
    parts = {s.id: _plain(s.part.get("fr")) for s in template.steps if s.part is not None}
    assert parts == {
        "pourquoi": "1 – Pourquoi tout va changer ?",
        "meurt": "Quels seraient les principaux « faits déclencheurs » de la transition ?",
        "horizons": "2 – Expérimenter et construire",
        "moyens_types": "Avec quels moyens ?",
    }
    for word in ("obsolète", "perdant", "exsangue"):
        assert word in template.step("meurt").prompt.get("fr")
    for word in ("dysfonctionnements", "inadaptations", "insuffisances"):
        assert word in template.step("dysfonctionne").prompt.get("fr")
    for word in ("innovations", "pratiques", "aspirations", "autres émergences"):
        assert word in template.step("nait").prompt.get("fr")


def test_template_means(template: Flow) -> None:
    means = template.step("moyens_types")
    assert _plain(means.prompt.get("fr")) == "Avec quels moyens ?"
    labels = {c.id: c.label.get("fr") for c in means.choices}
    assert labels == {
        "juridiques": "Des moyens juridiques",
        "politico_techniques": "Des dispositifs politico-techniques",
        "lexicaux": "Des moyens lexicaux opérationnels",
        "financement": "Des modes de financement",
        "economiques": "Des moyens économiques organisationnels",
    }
    for choice in means.choices:
        step = template.step(f"moyens_{choice.id}")
        assert step.when_source == f"'{choice.id}' in moyens_types"
        assert step.section is not None
        assert step.section.values == choice.label.values
        assert step.when is not None
        assert step.when.evaluate({"moyens_types": (choice.id,)}) is True
        assert step.when.evaluate({"moyens_types": ()}) is False
        assert step.when.evaluate({}) is False


def test_template_french_examples_are_the_seed_bullets(template: Flow) -> None:
    bullets = seed_bullets()
    assert set(bullets) == {s.id for s in template.steps if s.kind is StepKind.LIST}
    for step_id, expected in bullets.items():
        assert list(template.step(step_id).examples["fr"]) == expected, step_id
    assert (
        "Le territoire ne sait pas avancer autrement qu’à petits pas"
        " > capacité > fortitude ? > consensualité"
    ) in template.step("pourquoi").examples["fr"]


def test_template_english_examples_translate_each_french_one(template: Flow) -> None:
    for step in template.steps:
        if step.kind is StepKind.LIST:
            assert len(step.examples["en"]) == len(step.examples["fr"]), step.id


def test_template_list_limits(template: Flow) -> None:
    longest = max(len(b) for bs in seed_bullets().values() for b in bs)
    for step in template.steps:
        if step.kind is StepKind.LIST:
            assert step.max_items == 30
            assert step.max_length == 500
            assert step.max_length >= longest


CONSENT_STEP = 'id = "accord"\nkind = "consent"\nprompt = "D\'accord ?"'
INFO_STEP = 'id = "bienvenue"\nkind = "info"\nprompt = "Bienvenue"'


def test_consent_comes_before_every_question(tmp_path: Path) -> None:
    """An answer given before the consent would be stored before anyone agreed to anything."""
    problem = only_problem(tmp_path, steps(LIST_STEP, CONSENT_STEP))
    assert problem.step == "accord"
    assert "consent step must come before every question" in problem.problem
    assert "'l'" in problem.problem
    # Info steps may come first: they ask nothing.
    flow = load_flow_file(write(tmp_path, steps(INFO_STEP, CONSENT_STEP, LIST_STEP)))
    assert [s.id for s in flow.steps] == ["bienvenue", "accord", "l"]


def test_a_flow_asks_for_consent_once(tmp_path: Path) -> None:
    second = CONSENT_STEP.replace('"accord"', '"encore"')
    problem = only_problem(tmp_path, steps(CONSENT_STEP, second, LIST_STEP))
    assert problem.step == "encore"
    assert "only one consent step" in problem.problem


def _plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("’", "'")
