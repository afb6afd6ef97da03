"""``multichoice``: several choices, pressed one by one (or typed at once), then confirmed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qn_bot.domain import Button, ButtonKind
from qn_bot.flows.format import StepKind
from qn_bot.flows.kinds.base import Answer, StepKindBase
from qn_bot.flows.kinds.choice import choice_buttons, choice_summary

if TYPE_CHECKING:
    from qn_bot.flows.engine import Engine
    from qn_bot.flows.events import Event
    from qn_bot.flows.format import Step
    from qn_bot.flows.state import SessionState


class MultichoiceKind(StepKindBase):
    name = StepKind.MULTICHOICE
    keys = frozenset({"examples", "choices", "when", "required"})
    answers_with_choice_ids = True

    def hints(self, engine: Engine, step: Step, state: SessionState) -> list[str]:
        return [engine.catalog.t(state.language, "multichoice_hint")]

    def buttons(self, engine: Engine, step: Step, state: SessionState) -> tuple[Button, ...]:
        validate = engine.catalog.t(state.language, "button_validate")
        return (*choice_buttons(step, state), Button(ButtonKind.COMMAND, "suivant", validate))

    def on_text(
        self, engine: Engine, step: Step, state: SessionState, text: str, out: list[Event]
    ) -> SessionState:
        ids = self._match_many(engine, step, state, text)
        if not ids:
            engine.say(out, state, "choice_not_understood")
            engine.ask(step, state, out)
            return state
        return engine.store_single(step, state, ids, out)

    def on_choice(
        self, engine: Engine, step: Step, state: SessionState, choice_id: str, out: list[Event]
    ) -> SessionState:
        pending = list(state.pending_choices)
        if choice_id in pending:
            pending.remove(choice_id)
        else:
            pending.append(choice_id)
        state = state.evolve(pending_choices=tuple(pending))
        labels = ", ".join(engine.choice_label(step, cid, state) for cid in pending) or "—"
        engine.say(
            out,
            state,
            "multichoice_selected",
            selection=labels,
            buttons=self.buttons(engine, step, state),
        )
        return state

    def on_next(
        self, engine: Engine, step: Step, state: SessionState, out: list[Event]
    ) -> SessionState:
        if state.pending_choices:
            return engine.store_single(step, state, state.pending_choices, out)
        return super().on_next(engine, step, state, out)

    def summary(self, step: Step, answers: Sequence[Answer], language: str) -> tuple[str, ...]:
        return choice_summary(step, answers, language)

    def _match_many(
        self, engine: Engine, step: Step, state: SessionState, text: str
    ) -> tuple[str, ...]:
        buttons = tuple(b for b in self.buttons(engine, step, state) if b.kind is ButtonKind.CHOICE)
        tokens = [tok for tok in re.split(r"[,;\n]+", text) if tok.strip()]
        chosen: list[str] = []
        for token in tokens:
            match = engine.match(buttons, token)
            if match is None:
                parts = token.split()
                if parts and all(p.strip(".)").isdigit() for p in parts):
                    matches = [engine.match(buttons, p) for p in parts]
                    if any(m is None for m in matches):
                        return ()
                    chosen.extend(m for m in matches if m is not None)
                    continue
                return ()
            chosen.append(match)
        return tuple(dict.fromkeys(chosen))
