"""``text``: one free answer in the citizen's own words, at most ``max_length`` characters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qn_bot.flows.format import StepKind
from qn_bot.flows.kinds.base import StepKindBase

if TYPE_CHECKING:
    from qn_bot.flows.engine import Engine
    from qn_bot.flows.events import Event
    from qn_bot.flows.format import Step
    from qn_bot.flows.state import SessionState


class TextKind(StepKindBase):
    name = StepKind.TEXT
    keys = frozenset({"examples", "when", "required", "max_length"})
    free_text = True
    recalls_answer = True

    def hints(self, engine: Engine, step: Step, state: SessionState) -> list[str]:
        if step.required:
            return []
        return [engine.catalog.t(state.language, "text_hint_optional")]

    def on_text(
        self, engine: Engine, step: Step, state: SessionState, text: str, out: list[Event]
    ) -> SessionState:
        if len(text) > step.max_length:
            engine.say(out, state, "too_long", length=len(text), max=step.max_length)
            return state
        return engine.store_single(step, state, None, out, text=text)
