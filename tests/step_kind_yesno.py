"""A step kind written outside qn_bot, as a plug-in would: a yes/no question answered by a
button (✔ / ✘, or the step's own ``marks = ["👍", "👎"]``) or by typing oui, non, yes or no.
One module; ``KINDS.register(YesNoKind())`` is its registration line."""

from __future__ import annotations

from collections.abc import Sequence

from qn_bot.domain import Button, ButtonKind
from qn_bot.flows.engine import Engine
from qn_bot.flows.events import Event
from qn_bot.flows.format import Step
from qn_bot.flows.kinds import Answer, StepKindBase, fold
from qn_bot.flows.loader import Checker
from qn_bot.flows.state import SessionState

YES, NO = "yes", "no"
_TYPED = {"oui": YES, "yes": YES, "non": NO, "no": NO}
_MARKS = {YES: "✔", NO: "✘"}


class YesNoKind(StepKindBase):
    name = "yesno"
    keys = frozenset({"when", "required", "marks"})  # "marks": this kind's own option
    recalls_answer = True

    def check(self, checker: Checker, raw: dict[str, object], label: str) -> None:
        marks = raw.get("marks", list(_MARKS.values()))
        if not (
            isinstance(marks, list)
            and len(marks) == 2
            and all(isinstance(m, str) and m.strip() for m in marks)
        ):
            checker.problem(label, f"marks must be two labels, yes then no, not {marks!r}")

    def buttons(self, engine: Engine, step: Step, state: SessionState) -> tuple[Button, ...]:
        marks = _marks(step)
        return tuple(Button(ButtonKind.CHOICE, answer, marks[answer]) for answer in (YES, NO))

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
        return engine.store_single(step, state, choice_id, out, text=_marks(step)[choice_id])

    def summary(self, step: Step, answers: Sequence[Answer], language: str) -> tuple[str, ...]:
        yes = sum(1 for a in answers if a.value == YES)
        return (f"✔ {yes} · ✘ {len(answers) - yes}",)


def _marks(step: Step) -> dict[str, str]:
    marks = step.options.get("marks")
    if isinstance(marks, list | tuple):
        return {YES: str(marks[0]), NO: str(marks[1])}
    return _MARKS
