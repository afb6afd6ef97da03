"""What a step kind is: one object that says how its steps are checked, asked, answered and
summed up. The engine and the loader hold what every kind shares and ask the step's kind for the
rest (:mod:`qn_bot.flows.kinds` is the registry).

A kind is part of the engine: it stays pure (no I/O, no clock), and it answers through the
engine's public helpers for kinds (``engine.say``, ``engine.store_single``, ``engine.advance``,
``engine.ask``, ``engine.choice``, ``engine.match``, ``engine.withdraw_inapplicable``), which it
is handed, so that every kind says and records things the same way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from qn_bot.domain import Button, ButtonKind
from qn_bot.flows.state import Item, SessionState

if TYPE_CHECKING:
    from qn_bot.flows.engine import Engine
    from qn_bot.flows.events import Event
    from qn_bot.flows.expr import Value
    from qn_bot.flows.format import Step
    from qn_bot.flows.loader import Checker


_DECORATION_RE = re.compile(r"^[^\w'\"(«]+|[^\w'\")».?!]+$")


#: A plain yes or no, as typed to a confirmation, in either language.
YES_WORDS = frozenset({"oui", "ok", "d'accord", "yes", "yep", "ouais", "o", "y"})
NO_WORDS = frozenset({"non", "no", "nope", "n"})


def fold(text: str) -> str:
    """Case-, accent- and space-insensitive form used to match typed labels."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Labels carry decorations ("✅ Valider", "Suivant ➡") that nobody types.
    bare = _DECORATION_RE.sub("", bare.replace("’", "'"))
    return " ".join(bare.split())


class Answer(Protocol):
    """A stored answer item as a synthesis reads it (an ``ItemRecord``)."""

    @property
    def text(self) -> str: ...

    @property
    def value(self) -> object: ...


class StepKindBase:
    """Defaults shared by most kinds; a kind overrides what it does differently."""

    name: str = ""
    #: Optional step keys (besides id, kind, prompt, section, part, help) this kind accepts.
    keys: frozenset[str] = frozenset()
    #: It asks the citizen something (an info step shows its text and moves on).
    is_question: bool = True
    #: It can be asked again from the review or by /retour, and its answer changed.
    revisitable: bool = True
    #: Its answers are the citizens' own words, one item each: counted as contributions,
    #: edited as text from the review, shown item by item in syntheses and digests.
    free_text: bool = False
    #: Its answers are ids of its ``choices`` (a `when` comparing it to a literal is checked).
    answers_with_choice_ids: bool = False
    #: It stores an answer of its own: it has respondents and a section in syntheses.
    stores_answers: bool = True
    #: It asks for consent: nothing is stored before it is given (one per flow, first).
    asks_consent: bool = False
    #: The current answer is recalled when the step is asked again.
    recalls_answer: bool = False

    # --- loader ----------------------------------------------------------------------------

    def check(self, checker: Checker, raw: dict[str, object], label: str) -> None:
        """Problems only this kind knows of, reported through ``checker.problem``."""

    def bounds_from(
        self, checker: Checker, raw: dict[str, object], label: str
    ) -> tuple[float | None, float | None]:
        return checker.number_bounds(raw, label)

    # --- engine ----------------------------------------------------------------------------

    def answers_at_most(self, step: Step) -> int:
        """The most live answers one participant can have in a step of this kind."""
        return 1

    def value(self, items: Sequence[Item]) -> Value:
        """The step's answer as `when` conditions see it (``items`` is never empty)."""
        item = items[0]
        return item.text if item.value is None else item.value

    def bounds(self, step: Step) -> tuple[float | None, float | None]:
        return step.min_value, step.max_value

    def hints(self, engine: Engine, step: Step, state: SessionState) -> list[str]:
        """Lines put under the prompt when the step is asked."""
        return []

    def buttons(self, engine: Engine, step: Step, state: SessionState) -> tuple[Button, ...]:
        if not step.required:
            skip = engine.catalog.t(state.language, "button_skip")
            return (Button(ButtonKind.COMMAND, "passer", skip),)
        return ()

    def skippable(self, step: Step) -> bool:
        return not (step.required or step.min_items > 0)

    def on_text(
        self, engine: Engine, step: Step, state: SessionState, text: str, out: list[Event]
    ) -> SessionState:
        """A typed answer (not blank, normalised)."""
        choice = engine.match(self.buttons(engine, step, state), text)
        if choice is None:
            engine.say(out, state, "choice_not_understood")
            engine.ask(step, state, out)
            return state
        return engine.choice(state, choice, out)

    def on_choice(
        self, engine: Engine, step: Step, state: SessionState, choice_id: str, out: list[Event]
    ) -> SessionState:
        """A pressed (or typed) button of this step; ``choice_id`` is one it offers."""
        return engine.store_single(step, state, choice_id, out)

    def on_next(
        self, engine: Engine, step: Step, state: SessionState, out: list[Event]
    ) -> SessionState:
        """/suivant on this step."""
        if not state.items_of(step.id) and step.required:
            engine.say(out, state, "answer_required")
            return state
        return engine.advance(state, out)

    # --- synthesis -------------------------------------------------------------------------

    def summary(self, step: Step, answers: Sequence[Answer], language: str) -> tuple[str, ...]:
        """The lines a synthesis shows for a step whose answers are not free text."""
        return ()
