"""``multichoice``: several choices, pressed one by one (or typed at once), then confirmed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qn_bot.domain import Button, ButtonKind
from qn_bot.flows.format import StepKind
from qn_bot.flows.kinds.base import Answer, StepKindBase, fold
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
            engine.say(out, state, "choices_not_understood")
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
        """Several choices as people type them: ``1, 4``, ``1 et 4``, ``1 4``, labels joined
        by « et », or ``les deux premiers`` / ``the last two``. Nothing if any part is unclear:
        a half-understood answer is not stored."""
        buttons = tuple(b for b in self.buttons(engine, step, state) if b.kind is ButtonKind.CHOICE)
        ends = _ends(text, len(buttons))
        if ends is not None:
            return tuple(b.value for b in buttons[ends])
        chosen: list[str] = []
        for token in (tok for tok in re.split(r"[,;\n]+", text) if tok.strip()):
            # A label may itself hold « et » ("Rouge et noir"): the whole token first.
            match = engine.match(buttons, token)
            if match is not None:
                chosen.append(match)
                continue
            for part in _JOINED_RE.split(token.strip()):
                match = engine.match(buttons, part)
                if match is None:
                    numbers = part.split()
                    if len(numbers) < 2 or not all(n.strip(".)").isdigit() for n in numbers):
                        return ()
                    matches = [engine.match(buttons, n) for n in numbers]
                    if any(m is None for m in matches):
                        return ()
                    chosen.extend(m for m in matches if m is not None)
                    continue
                chosen.append(match)
        return tuple(dict.fromkeys(chosen))


_JOINED_RE = re.compile(r"\s+(?:et|and|&|\+)\s+|\s*[&+]\s*", re.IGNORECASE)
_COUNT_WORDS = {
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_ENDS_RE = re.compile(
    r"^(?:les|le|la|the)?\s*(?:(?P<before>\w+)\s+)?"
    r"(?P<end>premiers?|premieres?|derniers?|dernieres?|first|last)"
    r"(?:\s+(?P<after>\w+))?$"
)


def _ends(text: str, count: int) -> slice | None:
    """``les deux premiers`` → the first two options; ``le dernier`` → the last one. None when
    the text is not such a phrase or does not say how many (``les premiers``)."""
    found = _ENDS_RE.match(fold(text).strip(" .!"))
    if found is None:
        return None
    end = found["end"]
    plural = end.endswith("s") and end not in ("first", "last")
    said = [w for w in (found["before"], found["after"]) if w is not None]
    if len(said) > 1:
        return None
    if said:
        word = said[0]
        number = int(word) if word.isdigit() else _COUNT_WORDS.get(word)
        if number is None:
            return None
    elif plural:
        return None  # "les premiers": how many?
    else:
        number = 1
    if not 1 <= number <= count:
        return None
    return slice(0, number) if end.startswith(("premi", "first")) else slice(count - number, count)
