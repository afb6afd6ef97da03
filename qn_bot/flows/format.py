"""The in-memory model of a flow file (see docs/architecture.md and the README's "Flow format")."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from qn_bot.flows.expr import Expr


class StepKind(enum.StrEnum):
    """The built-in kinds' names; each kind's behaviour is in qn_bot.flows.kinds."""

    INFO = "info"
    CONSENT = "consent"
    TEXT = "text"
    LIST = "list"
    CHOICE = "choice"
    MULTICHOICE = "multichoice"
    SCALE = "scale"
    NUMBER = "number"


@dataclass(frozen=True, slots=True)
class Localized:
    """A text in every language of the flow; the flow loader guarantees completeness."""

    values: Mapping[str, str]

    def get(self, language: str) -> str:
        return self.values[language]

    @classmethod
    def of(cls, **values: str) -> Localized:
        return cls(MappingProxyType(dict(values)))


@dataclass(frozen=True, slots=True)
class Choice:
    id: str
    label: Localized


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    kind: str  # a name in qn_bot.flows.kinds.KINDS: a StepKind for the built-in kinds
    prompt: Localized
    section: Localized | None = None
    part: Localized | None = None  # a heading above sections in syntheses ("2 – Expérimenter…")
    help: Localized | None = None
    examples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    when: Expr | None = None
    when_source: str | None = None
    required: bool = False
    min_items: int = 0
    max_items: int = 20
    max_length: int = 1000
    min_value: float | None = None  # scale / number bounds
    max_value: float | None = None
    integer: bool = True  # number steps: whole numbers only
    # Keys a kind declares beyond the ones above (a plug-in kind's own settings), as written.
    options: Mapping[str, object] = field(default_factory=dict)

    def choice(self, choice_id: str) -> Choice | None:
        for c in self.choices:
            if c.id == choice_id:
                return c
        return None


@dataclass(frozen=True, slots=True)
class Link:
    """Two sides of a flow the method relates (``links`` in a flow file): the theme pairs the
    same citizens give on both sides are shown together. A side is one text or list step, or
    several read as one section (the means, spread over several steps)."""

    left: tuple[str, ...]
    right: tuple[str, ...]
    # How to say a strong pair, with {left} and {right}; a generic sentence when absent.
    sentence: Localized | None = None


@dataclass(frozen=True, slots=True)
class Flow:
    id: str
    version: int
    languages: tuple[str, ...]
    title: Localized
    steps: tuple[Step, ...]
    description: Localized | None = None
    links: tuple[Link, ...] = ()
    source: str = ""  # the TOML text, kept so a campaign can snapshot exactly what it ran

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def index(self, step_id: str) -> int:
        for i, s in enumerate(self.steps):
            if s.id == step_id:
                return i
        raise KeyError(step_id)
