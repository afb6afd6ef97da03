"""``choice``: one of the step's choices, pressed or typed (by label or number)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from qn_bot.domain import Button, ButtonKind
from qn_bot.flows.format import StepKind
from qn_bot.flows.kinds.base import Answer, StepKindBase

if TYPE_CHECKING:
    from qn_bot.flows.engine import Engine
    from qn_bot.flows.format import Step
    from qn_bot.flows.state import SessionState


def choice_buttons(step: Step, state: SessionState) -> list[Button]:
    """The step's choices, those pressed so far (multichoice) marked with a check."""
    marks = set(state.pending_choices)
    lang = state.language
    return [
        Button(ButtonKind.CHOICE, c.id, ("✓ " if c.id in marks else "") + c.label.get(lang))
        for c in step.choices
    ]


def _choice_ids(value: object) -> Iterable[str]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        # A participant counts once per choice even if a value repeats an id.
        return dict.fromkeys(v for v in value if isinstance(v, str))
    return ()


def choice_summary(step: Step, answers: Sequence[Answer], language: str) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for answer in answers:
        for choice_id in _choice_ids(answer.value):
            counts[choice_id] = counts.get(choice_id, 0) + 1
    # Flow order, as the seed numbers its means 1) to 5); ids the flow no longer has are dropped.
    return tuple(
        f"{c.label.get(language)} ({counts[c.id]})" for c in step.choices if counts.get(c.id)
    )


class ChoiceKind(StepKindBase):
    name = StepKind.CHOICE
    keys = frozenset({"examples", "choices", "when", "required"})
    answers_with_choice_ids = True
    recalls_answer = True

    def buttons(self, engine: Engine, step: Step, state: SessionState) -> tuple[Button, ...]:
        return tuple(choice_buttons(step, state))

    def summary(self, step: Step, answers: Sequence[Answer], language: str) -> tuple[str, ...]:
        return choice_summary(step, answers, language)
