"""A step kind written outside qn_bot, as a plug-in would: a yes/no question answered by a
button (✔ / ✘) or by typing oui, non, yes or no. One module; ``KINDS.register(YesNoKind())``
is its registration line."""

from __future__ import annotations

from collections.abc import Sequence

from qn_bot.domain import Button, ButtonKind
from qn_bot.flows.engine import Engine
from qn_bot.flows.events import Event
from qn_bot.flows.format import Step
from qn_bot.flows.kinds import Answer, StepKindBase, fold
from qn_bot.flows.state import SessionState

YES, NO = "yes", "no"
_TYPED = {"oui": YES, "yes": YES, "non": NO, "no": NO}
_MARKS = {YES: "✔", NO: "✘"}


class YesNoKind(StepKindBase):
    name = "yesno"
    keys = frozenset({"when", "required"})
    recalls_answer = True

    def buttons(self, engine: Engine, step: Step, state: SessionState) -> tuple[Button, ...]:
        return tuple(Button(ButtonKind.CHOICE, answer, mark) for answer, mark in _MARKS.items())

    def on_text(
        self, engine: Engine, step: Step, state: SessionState, text: str, out: list[Event]
    ) -> SessionState:
        answer = _TYPED.get(fold(text))
        if answer is None:
            return super().on_text(engine, step, state, text, out)
        return engine.choice(state, answer, out)

    def on_choice(
        self, engine: Engine, step: Step, state: SessionState, choice_id: str, out: list[Event]
    ) -> SessionState:
        return engine.store_single(step, state, choice_id, out, text=_MARKS[choice_id])

    def summary(self, step: Step, answers: Sequence[Answer], language: str) -> tuple[str, ...]:
        yes = sum(1 for a in answers if a.value == YES)
        return (f"✔ {yes} · ✘ {len(answers) - yes}",)
