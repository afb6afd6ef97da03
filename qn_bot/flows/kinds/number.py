"""``number``: a number typed, within the step's bounds, whole unless ``integer = false``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from qn_bot.flows.format import StepKind
from qn_bot.flows.kinds.base import Answer, StepKindBase
from qn_bot.i18n import default_catalog

if TYPE_CHECKING:
    from qn_bot.flows.engine import Engine
    from qn_bot.flows.events import Event
    from qn_bot.flows.format import Step
    from qn_bot.flows.state import SessionState


def fmt(value: float | int | str | tuple[str, ...] | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


def format_number(value: float, language: str) -> str:
    """At most two decimals, no trailing zeros, the language's decimal separator."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return text.replace(".", default_catalog().t(language, "decimal_separator"))


class NumberKind(StepKindBase):
    name = StepKind.NUMBER
    keys = frozenset({"examples", "when", "required", "min", "max", "integer"})
    recalls_answer = True

    def integer_only(self, step: Step) -> bool:
        return step.integer

    def hints(self, engine: Engine, step: Step, state: SessionState) -> list[str]:
        low, high = self.bounds(step)
        if low is not None and high is not None:
            t = engine.catalog.t
            return [t(state.language, "number_hint_range", min=fmt(low), max=fmt(high))]
        return []

    def on_text(
        self, engine: Engine, step: Step, state: SessionState, text: str, out: list[Event]
    ) -> SessionState:
        raw = text.replace("\u202f", "").replace(" ", "").replace(",", ".")
        try:
            number = float(raw)
        except ValueError:
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            engine.say(out, state, "number_expected")
            return state
        if self.integer_only(step) and not number.is_integer():
            engine.say(out, state, "integer_expected")
            return state
        low, high = self.bounds(step)
        if (low is not None and number < low) or (high is not None and number > high):
            engine.say(out, state, "number_out_of_range", min=fmt(low), max=fmt(high))
            return state
        value: int | float = int(number) if number.is_integer() else number
        return engine.store_single(step, state, value, out, text=fmt(value))

    def summary(self, step: Step, answers: Sequence[Answer], language: str) -> tuple[str, ...]:
        numbers = [n for n in (_number_of(a) for a in answers) if n is not None and n == n]
        if not numbers:
            return ()
        count = len(numbers)
        catalog = default_catalog()
        return (
            catalog.t(
                language,
                "synthesis_numbers",
                answers=catalog.plural(language, "page_answers", count),
                mean=format_number(sum(numbers) / count, language),
                low=format_number(min(numbers), language),
                high=format_number(max(numbers), language),
            ),
        )


def _number_of(answer: Answer) -> float | None:
    value = answer.value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(answer.text.replace("\u202f", "").replace(" ", "").replace(",", "."))
    except ValueError:
        return None
