"""Read and check flow files (docs/architecture.md, "Contracts").

Facilitators write these files by hand, so the loader reports every problem it finds at once,
each naming the file, the step and what to change, rather than stopping at the first one.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from qn_bot.errors import FlowError, FlowProblem
from qn_bot.flows import expr
from qn_bot.flows.format import Choice, Flow, Link, Localized, Step, StepKind
from qn_bot.flows.kinds import KINDS, StepKindBase

TOP_LEVEL_KEYS = ("id", "version", "languages", "title", "description", "steps", "links")
STEP_KEYS = (
    "id",
    "kind",
    "prompt",
    "section",
    "part",
    "help",
    "examples",
    "choices",
    "when",
    "required",
    "min_items",
    "max_items",
    "max_length",
    "min",
    "max",
    "integer",
)
CHOICE_KEYS = ("id", "label")

#: Keys every kind takes; the others are each kind's own (``keys`` in qn_bot.flows.kinds).
COMMON_KEYS = frozenset({"id", "kind", "prompt", "section", "part", "help"})

STEP_ID_RE = re.compile(r"[a-z][a-z0-9_]*")
FLOW_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
LANGUAGE_RE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")

MAX_ID_LENGTH = 64
MAX_ITEMS_LIMIT = 1000
MAX_LENGTH_LIMIT = 10_000

# format.py owns the defaults; read them from a throwaway step rather than repeat them here.
_DEFAULTS = Step(id="x", kind=StepKind.INFO, prompt=Localized.of(x="x"))


def _kinds_text(kinds: list[str]) -> str:
    return ", ".join(kinds)


def _kinds_taking(key: str) -> list[str]:
    return [kind.name for kind in KINDS if key in kind.keys]


def _listing(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(items)


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _table_hint(languages: tuple[str, ...]) -> str:
    return "{ " + ", ".join(f'{lang} = "…"' for lang in languages) + " }"


def _is_int(value: object) -> bool:
    # TOML booleans are Python bools, which are ints: `max_items = true` must not pass.
    return isinstance(value, int) and not isinstance(value, bool)


def _step_keys() -> tuple[str, ...]:
    """Every key a step may have: the common ones, then the registered kinds' own options."""
    own = {key for kind in KINDS for key in kind.keys} - set(STEP_KEYS)
    return STEP_KEYS + tuple(sorted(own))


@dataclass
class Checker:
    """Collects problems while turning the parsed TOML into a Flow."""

    file: str
    problems: list[FlowProblem] = field(default_factory=list)
    languages: tuple[str, ...] | None = None  # None when `languages` itself is invalid

    def problem(self, step: str | None, message: str) -> None:
        self.problems.append(FlowProblem(self.file, step, message))

    def unknown_keys(
        self, table: dict[str, object], allowed: tuple[str, ...], step: str | None, where: str
    ) -> None:
        for key in table:
            if key not in allowed:
                self.problem(step, f"unknown key {key!r}{where}; allowed keys: {_listing(allowed)}")

    # --- localized texts ------------------------------------------------------------------

    def localized(self, value: object, step: str | None, what: str) -> Localized | None:
        if isinstance(value, str):
            if self.languages is not None and len(self.languages) > 1:
                self.problem(
                    step,
                    f"{what} is a plain string, but the flow has several languages "
                    f"({_listing(self.languages)}): "
                    f"give a table like {_table_hint(self.languages)}",
                )
                return None
            if not value.strip():
                self.problem(step, f"{what} is empty")
                return None
            language = self.languages[0] if self.languages else "und"
            return Localized(MappingProxyType({language: value}))
        if not isinstance(value, dict):
            self.problem(
                step,
                f"{what} must be a string or a table of languages, not {_type_name(value)}",
            )
            return None
        texts: dict[str, str] = {}
        ok = True
        for language, text in value.items():
            if self.languages is not None and language not in self.languages:
                self.problem(
                    step,
                    f"{what} has {language!r}, which is not a language of the flow "
                    f"({_listing(self.languages)})",
                )
                ok = False
            elif not isinstance(text, str):
                self.problem(
                    step, f"{what} in {language!r} must be a string, not {_type_name(text)}"
                )
                ok = False
            elif not text.strip():
                self.problem(step, f"{what} in {language!r} is empty")
                ok = False
            else:
                texts[language] = text
        for language in self.languages or ():
            if language not in value:
                self.problem(step, f"{what} lacks {language!r}")
                ok = False
        if not ok:
            return None
        if self.languages is not None:
            texts = {language: texts[language] for language in self.languages}
        return Localized(MappingProxyType(texts))

    # --- top level ------------------------------------------------------------------------

    def flow(self, data: dict[str, object], source: str) -> Flow | None:
        self.unknown_keys(data, TOP_LEVEL_KEYS, None, "")
        for key in ("id", "version", "languages", "title", "steps"):
            if key not in data:
                self.problem(None, f"missing required key {key!r}")

        flow_id = data.get("id")
        if "id" in data and not (
            isinstance(flow_id, str)
            and FLOW_ID_RE.fullmatch(flow_id)
            and len(flow_id) <= MAX_ID_LENGTH
        ):
            self.problem(
                None,
                f"id {flow_id!r} is not a valid flow id: use lowercase letters, digits, '-' and "
                f"'_', starting with a letter or digit, at most {MAX_ID_LENGTH} characters",
            )
        version = data.get("version")
        if "version" in data and not (
            _is_int(version) and isinstance(version, int) and version > 0
        ):
            self.problem(None, f"version must be a positive integer, not {version!r}")

        self.languages = self.check_languages(data.get("languages"), "languages" in data)
        title = self.localized(data["title"], None, "title") if "title" in data else None
        description = (
            self.localized(data["description"], None, "description")
            if "description" in data
            else None
        )
        steps = self.steps(data["steps"]) if "steps" in data else None
        links = self.links(data["links"], steps) if "links" in data and steps else ()

        if self.problems:
            return None
        assert isinstance(flow_id, str)
        assert isinstance(version, int)
        assert self.languages is not None
        assert title is not None
        assert steps is not None
        return Flow(
            id=flow_id,
            version=version,
            languages=self.languages,
            title=title,
            steps=steps,
            description=description,
            links=links,
            source=source,
        )

    def links(self, value: object, steps: tuple[Step, ...]) -> tuple[Link, ...]:
        """``links = [["meurt", "nait"], [["moyens_a", "moyens_b"], "acteurs"]]``: pairs of
        sides, each a text or list step or a list of them, and an optional sentence table with
        {left} and {right}."""
        hint = 'links must be a list of pairs, like [["meurt", "nait"]]'
        if not isinstance(value, list):
            self.problem(None, hint)
            return ()
        kinds = {s.id: s.kind for s in steps}
        out: list[Link] = []
        for position, raw in enumerate(value, start=1):
            where = f"links #{position}"
            if not isinstance(raw, list) or len(raw) not in (2, 3):
                self.problem(None, f"{where}: a link is a pair of sides, then an optional sentence")
                continue
            sides = [self.link_side(raw[0], kinds, where), self.link_side(raw[1], kinds, where)]
            sentence = self.localized(raw[2], None, f"{where} sentence") if len(raw) == 3 else None
            if sentence is not None:
                for language, text in sentence.values.items():
                    for field_name in ("{left}", "{right}"):
                        if field_name not in text:
                            self.problem(
                                None, f"{where}: the {language} sentence lacks {field_name}"
                            )
            left, right = sides
            if left is None or right is None:
                continue
            if set(left) & set(right):
                both = _listing(sorted(set(left) & set(right)))
                self.problem(None, f"{where}: {both} cannot be on both sides")
                continue
            out.append(Link(left, right, sentence))
        return tuple(out)

    def link_side(
        self, raw: object, kinds: Mapping[str, str], where: str
    ) -> tuple[str, ...] | None:
        listed = raw if isinstance(raw, list) else [raw]
        ids = [i for i in listed if isinstance(i, str)]
        if not ids or len(ids) != len(listed):
            self.problem(None, f"{where}: a side is a step id or a list of step ids")
            return None
        ok = True
        for step_id in ids:
            kind = kinds.get(step_id)
            if kind is None:
                self.problem(None, f"{where}: unknown step {step_id!r}")
                ok = False
            elif kind not in (StepKind.TEXT, StepKind.LIST):
                self.problem(
                    None,
                    f"{where}: step {step_id!r} is a {kind} step; links take text or list steps",
                )
                ok = False
        return tuple(ids) if ok else None

    def check_languages(self, value: object, present: bool) -> tuple[str, ...] | None:
        if not present:
            return None
        if not isinstance(value, list) or not value:
            self.problem(
                None, 'languages must be a non-empty list of language codes, like ["fr", "en"]'
            )
            return None
        ok = True
        seen: list[str] = []
        for language in value:
            if not isinstance(language, str) or not LANGUAGE_RE.fullmatch(language):
                self.problem(
                    None,
                    f'language {language!r} is not a language code like "fr" or "en"',
                )
                ok = False
            elif language in seen:
                self.problem(None, f"language {language!r} is listed twice")
                ok = False
            else:
                seen.append(language)
        return tuple(seen) if ok else None

    # --- steps ----------------------------------------------------------------------------

    def steps(self, value: object) -> tuple[Step, ...] | None:
        if not isinstance(value, list) or not value:
            self.problem(None, "steps must be a non-empty array of tables: write [[steps]] blocks")
            return None
        all_ids = [
            raw["id"] for raw in value if isinstance(raw, dict) and isinstance(raw.get("id"), str)
        ]
        earlier: dict[str, Step | None] = {}
        built: list[Step] = []
        for position, raw in enumerate(value, start=1):
            label = f"#{position}"
            if not isinstance(raw, dict):
                self.problem(label, f"a step must be a table, not {_type_name(raw)}")
                continue
            raw_id = raw.get("id")
            if isinstance(raw_id, str) and raw_id:
                label = raw_id
            step = self.step(raw, label, earlier, all_ids)
            if isinstance(raw_id, str):
                if raw_id in earlier:
                    self.problem(label, f"duplicate step id {raw_id!r}")
                else:
                    earlier[raw_id] = step
            if step is not None:
                built.append(step)
        self.consent_first(built)
        return tuple(built)

    def consent_first(self, built: list[Step]) -> None:
        """A consent step comes before every question, once: an answer given before it would
        be stored before the citizen agreed to anything."""
        questions: list[str] = []
        consent: str | None = None
        for step in built:
            kind = KINDS.of(step)
            if kind.asks_consent:
                if consent is not None:
                    self.problem(
                        step.id, f"a flow has only one consent step ({consent!r} is the first)"
                    )
                elif questions:
                    asked = ", ".join(repr(q) for q in questions)
                    self.problem(
                        step.id,
                        "the consent step must come before every question "
                        f"(asked before it: {asked}); only info steps may precede it",
                    )
                consent = consent if consent is not None else step.id
            elif kind.is_question:
                questions.append(step.id)

    def step(
        self,
        raw: dict[str, object],
        label: str,
        earlier: Mapping[str, Step | None],
        all_ids: list[str],
    ) -> Step | None:
        before = len(self.problems)
        keys = _step_keys()
        self.unknown_keys(raw, keys, label, "")
        for key in ("id", "kind", "prompt"):
            if key not in raw:
                self.problem(label, f"missing required key {key!r}")

        step_id = raw.get("id")
        if "id" in raw and not (
            isinstance(step_id, str)
            and STEP_ID_RE.fullmatch(step_id)
            and len(step_id) <= MAX_ID_LENGTH
        ):
            self.problem(
                label,
                f"step id {step_id!r} is not valid: use lowercase letters, digits and '_', "
                f"starting with a letter, at most {MAX_ID_LENGTH} characters",
            )

        kind: StepKindBase | None = None
        raw_kind = raw.get("kind")
        if "kind" in raw:
            if isinstance(raw_kind, str) and raw_kind in KINDS:
                kind = KINDS[raw_kind]
            else:
                self.problem(
                    label,
                    f"kind {raw_kind!r} is not one of {_kinds_text(list(KINDS.names()))}",
                )

        if kind is not None:
            for key in keys:
                if key in raw and key not in COMMON_KEYS and key not in kind.keys:
                    self.problem(
                        label,
                        f"{key!r} does not apply to a {kind.name} step "
                        f"(only to {_kinds_text(_kinds_taking(key))})",
                    )

        texts: dict[str, Localized | None] = {}
        for key in ("prompt", "section", "part", "help"):
            if key in raw:
                texts[key] = self.localized(raw[key], label, key)

        choices = self.choices(raw, label, kind)
        if kind is not None:
            kind.check(self, raw, label)
        required = self.flag(raw, "required", label, default=_DEFAULTS.required)
        integer = self.flag(raw, "integer", label, default=_DEFAULTS.integer)
        min_items, max_items, max_length = self.sizes(raw, label)
        min_value, max_value = (
            kind.bounds_from(self, raw, label)
            if kind is not None
            else self.number_bounds(raw, label)
        )
        takes_length = kind is not None and "max_length" in kind.keys
        examples = self.examples(raw, label, max_length if takes_length else None)
        when = self.when(raw, label, kind, earlier, all_ids)

        if len(self.problems) > before:
            return None
        assert isinstance(step_id, str)
        assert kind is not None
        prompt = texts["prompt"]
        assert prompt is not None
        return Step(
            id=step_id,
            kind=kind.name,
            prompt=prompt,
            section=texts.get("section"),
            part=texts.get("part"),
            help=texts.get("help"),
            examples=examples,
            choices=choices,
            when=when,
            when_source=when.source if when is not None else None,
            required=required,
            min_items=min_items,
            max_items=max_items,
            max_length=max_length,
            min_value=min_value,
            max_value=max_value,
            integer=integer,
            options={k: raw[k] for k in sorted(kind.keys) if k in raw and k not in STEP_KEYS},
        )

    def flag(self, raw: dict[str, object], key: str, label: str, *, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            self.problem(label, f"{key} must be true or false, not {value!r}")
            return default
        return value

    def int_key(
        self, raw: dict[str, object], key: str, label: str, default: int, low: int, high: int
    ) -> int:
        value = raw.get(key, default)
        if not _is_int(value) or not isinstance(value, int):
            self.problem(label, f"{key} must be an integer, not {_type_name(value)}")
            return default
        if not low <= value <= high:
            self.problem(label, f"{key} must be between {low} and {high}, not {value}")
            return default
        return value

    def sizes(self, raw: dict[str, object], label: str) -> tuple[int, int, int]:
        min_items = self.int_key(raw, "min_items", label, _DEFAULTS.min_items, 0, MAX_ITEMS_LIMIT)
        max_items = self.int_key(raw, "max_items", label, _DEFAULTS.max_items, 1, MAX_ITEMS_LIMIT)
        max_length = self.int_key(
            raw, "max_length", label, _DEFAULTS.max_length, 1, MAX_LENGTH_LIMIT
        )
        if min_items > max_items:
            self.problem(label, f"min_items ({min_items}) is greater than max_items ({max_items})")
        return min_items, max_items, max_length

    def number_bounds(
        self, raw: dict[str, object], label: str
    ) -> tuple[float | None, float | None]:
        low = raw.get("min")
        high = raw.get("max")
        checked: list[float | None] = []
        for key, value in (("min", low), ("max", high)):
            if value is None:
                checked.append(None)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                checked.append(value)
            else:
                self.problem(label, f"{key} must be a number, not {value!r}")
                checked.append(None)
        lo, hi = checked
        if lo is not None and hi is not None and lo > hi:
            self.problem(label, f"min ({lo}) is greater than max ({hi})")
        return lo, hi

    def examples(
        self, raw: dict[str, object], label: str, max_length: int | None
    ) -> Mapping[str, tuple[str, ...]]:
        if "examples" not in raw:
            return MappingProxyType({})
        value = raw["examples"]
        languages = self.languages
        by_language: dict[str, object] = {}
        if isinstance(value, list):
            if languages is not None and len(languages) > 1:
                self.problem(
                    label,
                    "examples is a plain list, but the flow has several languages: give a table "
                    f"of lists, like {{ {languages[0]} = [...], {languages[1]} = [...] }}",
                )
                return MappingProxyType({})
            by_language[languages[0] if languages else "und"] = value
        elif isinstance(value, dict):
            for language, items in value.items():
                if languages is not None and language not in languages:
                    self.problem(
                        label,
                        f"examples has {language!r}, which is not a language of the flow "
                        f"({_listing(languages)})",
                    )
                else:
                    by_language[language] = items
        else:
            self.problem(
                label,
                f"examples must be a list of strings or a table of lists, not {_type_name(value)}",
            )
            return MappingProxyType({})

        result: dict[str, tuple[str, ...]] = {}
        for language, items in by_language.items():
            where = f"examples in {language!r}" if isinstance(value, dict) else "examples"
            if not isinstance(items, list):
                self.problem(label, f"{where} must be a list of strings, not {_type_name(items)}")
                continue
            good: list[str] = []
            for number, item in enumerate(items, start=1):
                if not isinstance(item, str) or not item.strip():
                    self.problem(label, f"{where}: item {number} must be a non-empty string")
                elif max_length is not None and len(item) > max_length:
                    self.problem(
                        label,
                        f"{where}: item {number} has {len(item)} characters, more than "
                        f"max_length ({max_length}), so a citizen could not send it",
                    )
                else:
                    good.append(item)
            result[language] = tuple(good)
        if languages is not None:
            result = {lang: result[lang] for lang in languages if lang in result}
        return MappingProxyType(result)

    def choices(
        self, raw: dict[str, object], label: str, kind: StepKindBase | None
    ) -> tuple[Choice, ...]:
        value = raw.get("choices")
        if kind is not None and kind.answers_with_choice_ids and (value is None or value == []):
            self.problem(label, f"a {kind.name} step needs a non-empty 'choices' list")
            return ()
        if value is None or value == [] or kind is None or "choices" not in kind.keys:
            return ()
        if not isinstance(value, list):
            self.problem(label, f"choices must be an array of tables, not {_type_name(value)}")
            return ()
        built: list[Choice] = []
        seen: set[str] = set()
        for position, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                self.problem(label, f"choice #{position} must be a table, not {_type_name(item)}")
                continue
            choice_id = item.get("id")
            name = f"choice {choice_id!r}" if isinstance(choice_id, str) else f"choice #{position}"
            self.unknown_keys(item, CHOICE_KEYS, label, f" in {name}")
            if "id" not in item:
                self.problem(label, f"{name} lacks its 'id'")
            elif not (
                isinstance(choice_id, str)
                and STEP_ID_RE.fullmatch(choice_id)
                and len(choice_id) <= MAX_ID_LENGTH
            ):
                self.problem(
                    label,
                    f"choice id {choice_id!r} is not valid: use lowercase letters, digits and "
                    "'_', starting with a letter",
                )
            elif choice_id in seen:
                self.problem(label, f"duplicate choice id {choice_id!r}")
            if isinstance(choice_id, str):
                seen.add(choice_id)
            if "label" not in item:
                self.problem(label, f"{name} lacks its 'label'")
                continue
            text = self.localized(item["label"], label, f"{name} label")
            if isinstance(choice_id, str) and text is not None:
                built.append(Choice(choice_id, text))
        return tuple(built)

    def when(
        self,
        raw: dict[str, object],
        label: str,
        kind: StepKindBase | None,
        earlier: Mapping[str, Step | None],
        all_ids: list[str],
    ) -> expr.Expr | None:
        if "when" not in raw or (kind is not None and "when" not in kind.keys):
            return None  # a `when` on a consent step was reported with the other key checks
        source = raw["when"]
        if not isinstance(source, str):
            self.problem(label, f"when must be a string, not {_type_name(source)}")
            return None
        try:
            condition = expr.parse(source)
        except expr.ExprSyntaxError as error:
            self.problem(label, f"when {source!r}: {error}")
            return None
        ok = True
        for name in sorted(condition.names()):
            if name in earlier:
                continue
            ok = False
            if name == raw.get("id"):
                self.problem(
                    label, "when refers to the step itself; a condition can only use earlier steps"
                )
            elif name in all_ids:
                self.problem(label, f"when refers to step {name!r} which comes later")
            else:
                self.problem(label, f"when refers to unknown step {name!r}")
        for name, literal in condition.literal_comparisons():
            target = earlier.get(name)
            if target is None or not KINDS.of(target).answers_with_choice_ids:
                continue
            if target.choice(literal) is None:
                ok = False
                self.problem(
                    label,
                    f"when: {literal!r} is not a choice of step {name!r} "
                    f"(its choices: {_listing([c.id for c in target.choices])})",
                )
        for name in sorted(condition.names()):
            target = earlier.get(name)
            if target is not None and not KINDS.of(target).is_question:
                ok = False
                self.problem(
                    label, f"when refers to step {name!r}, an info step, which never has an answer"
                )
        return condition if ok else None


# --- public API ---------------------------------------------------------------------------


def load_flow_text(text: str, file: str) -> Flow:
    """Parse and check a flow; raises FlowError listing every problem, each naming ``file``."""
    checker = Checker(file)
    try:
        data: dict[str, object] = tomllib.loads(text)
        flow = checker.flow(data, text)
    except tomllib.TOMLDecodeError as error:
        # The message carries "(at line L, column C)".
        raise FlowError([FlowProblem(file, None, f"TOML syntax error: {error}")]) from None
    except RecursionError:
        # tomllib (and our checker) recurse once per level of nested arrays or tables.
        raise FlowError([FlowProblem(file, None, "arrays or tables nested too deep")]) from None
    if flow is None or checker.problems:
        raise FlowError(checker.problems)
    return flow


def load_flow_file(path: Path) -> Flow:
    try:
        # utf-8-sig: editors on Windows like to start files with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FlowError([FlowProblem(str(path), None, "file not found")]) from None
    except UnicodeDecodeError as error:
        raise FlowError(
            [FlowProblem(str(path), None, f"not UTF-8 text ({error.reason} at byte {error.start})")]
        ) from None
    except OSError as error:
        raise FlowError([FlowProblem(str(path), None, f"cannot read: {error.strerror}")]) from None
    return load_flow_text(text, str(path))


def builtin_flow_paths() -> list[Path]:
    """The flow templates shipped with qn-bot, sorted by file name."""
    return sorted((Path(__file__).parent / "templates").glob("*.toml"))


def resolve_flow(id_or_path: str, flows_dir: Path | None = None) -> Flow:
    """Load the flow file at ``id_or_path``, else the flow with that id in ``flows_dir``, else the
    built-in template with that id."""
    path = Path(id_or_path)
    if path.is_file():
        return load_flow_file(path)
    candidates = sorted(flows_dir.glob("*.toml")) if flows_dir is not None else []
    candidates += builtin_flow_paths()
    flows = [load_flow_file(p) for p in candidates]
    for flow in flows:
        if flow.id == id_or_path:
            return flow
    known = _listing([f.id for f in flows]) or "none"
    raise FlowError(
        [
            FlowProblem(
                id_or_path,
                None,
                f"no flow file at this path and no flow with this id (known flows: {known})",
            )
        ]
    )
