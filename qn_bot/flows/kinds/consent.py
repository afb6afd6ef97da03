"""``consent``: accept or refuse before any answer is stored; refusing stores nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qn_bot.domain import Button, ButtonKind
from qn_bot.flows.events import ConsentGiven, ConsentRefused, ItemDeleted
from qn_bot.flows.format import StepKind
from qn_bot.flows.kinds.base import NO_WORDS, YES_WORDS, StepKindBase, fold
from qn_bot.flows.state import Mode, SessionState, Status

if TYPE_CHECKING:
    from qn_bot.flows.engine import Engine
    from qn_bot.flows.events import Event
    from qn_bot.flows.format import Step
    from qn_bot.flows.loader import Checker

ACCEPT, REFUSE = "accept", "refuse"
CHOICE_IDS = (ACCEPT, REFUSE)
_YES_WORDS = YES_WORDS | {"j'accepte", "i agree", "accept"}
_NO_WORDS = NO_WORDS | {"refuse", "je refuse", "i refuse"}


class ConsentKind(StepKindBase):
    name = StepKind.CONSENT
    keys = frozenset({"choices"})
    # Cannot be revisited: /oublier is the way out.
    revisitable = False
    asks_consent = True
    stores_answers = False

    def check(self, checker: Checker, raw: dict[str, object], label: str) -> None:
        value = raw.get("choices")
        if not isinstance(value, list) or not value:
            return
        seen = {c["id"] for c in value if isinstance(c, dict) and isinstance(c.get("id"), str)}
        if sorted(seen) != sorted(CHOICE_IDS):
            checker.problem(
                label,
                "a consent step gives either no choices (the bot's own accept/refuse labels) "
                "or exactly two, with ids 'accept' and 'refuse'",
            )
        elif len(value) != len(CHOICE_IDS):
            checker.problem(
                label, "a consent step gives exactly two choices, 'accept' and 'refuse'"
            )

    def buttons(self, engine: Engine, step: Step, state: SessionState) -> tuple[Button, ...]:
        lang = state.language
        if step.choices:
            return tuple(Button(ButtonKind.CHOICE, c.id, c.label.get(lang)) for c in step.choices)
        t = engine.catalog.t
        return (
            Button(ButtonKind.CHOICE, ACCEPT, t(lang, "consent_accept")),
            Button(ButtonKind.CHOICE, REFUSE, t(lang, "consent_refuse")),
        )

    def skippable(self, step: Step) -> bool:
        return False

    def on_text(
        self, engine: Engine, step: Step, state: SessionState, text: str, out: list[Event]
    ) -> SessionState:
        choice = engine.match(self.buttons(engine, step, state), text)
        if choice is None:
            folded = fold(text)
            choice = ACCEPT if folded in _YES_WORDS else REFUSE if folded in _NO_WORDS else None
        if choice is None:
            engine.say(out, state, "choice_not_understood")
            engine.ask(step, state, out)
            return state
        return engine.choice(state, choice, out)

    def on_choice(
        self, engine: Engine, step: Step, state: SessionState, choice_id: str, out: list[Event]
    ) -> SessionState:
        if choice_id == ACCEPT:
            out.append(ConsentGiven(engine.flow.version))
            state = state.evolve(consent_version=engine.flow.version)
            engine.say(out, state, "consent_thanks")
            return engine.advance(state, out)
        for seq, _ in sorted(state.items.items()):
            out.append(ItemDeleted(seq))
        out.append(ConsentRefused())
        state = state.evolve(status=Status.REFUSED, items={}, step_id=None, mode=Mode.ASK)
        engine.say(out, state, "consent_refused")
        return state

    def on_next(
        self, engine: Engine, step: Step, state: SessionState, out: list[Event]
    ) -> SessionState:
        engine.say(out, state, "consent_needed")
        engine.ask(step, state, out)
        return state
