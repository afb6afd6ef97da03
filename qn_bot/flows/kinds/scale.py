"""``scale``: a point of a short scale (1 to 5 unless the step says otherwise), as buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qn_bot.domain import Button, ButtonKind
from qn_bot.flows.format import StepKind
from qn_bot.flows.kinds.number import NumberKind, fmt

if TYPE_CHECKING:
    from qn_bot.flows.engine import Engine
    from qn_bot.flows.events import Event
    from qn_bot.flows.format import Step
    from qn_bot.flows.loader import Checker
    from qn_bot.flows.state import SessionState

DEFAULT = (1, 5)
MAX_SPAN = 20  # each point becomes a button; more would not fit any chat client
MAX_BUTTONS_SPAN = 10  # wider scales are typed


class ScaleKind(NumberKind):
    name = StepKind.SCALE
    keys = frozenset({"examples", "when", "required", "min", "max"})

    def integer_only(self, step: Step) -> bool:
        return True

    def bounds(self, step: Step) -> tuple[float | None, float | None]:
        low = DEFAULT[0] if step.min_value is None else step.min_value
        high = DEFAULT[1] if step.max_value is None else step.max_value
        return low, high

    def bounds_from(
        self, checker: Checker, raw: dict[str, object], label: str
    ) -> tuple[float | None, float | None]:
        low = raw.get("min")
        high = raw.get("max")
        low = DEFAULT[0] if low is None else low
        high = DEFAULT[1] if high is None else high
        ok = True
        for key, value in (("min", low), ("max", high)):
            if not (isinstance(value, int) and not isinstance(value, bool)):
                checker.problem(label, f"{key} of a scale must be an integer, not {value!r}")
                ok = False
        if not ok:
            return None, None
        assert isinstance(low, int)
        assert isinstance(high, int)
        if low >= high:
            checker.problem(label, f"min ({low}) must be less than max ({high})")
        elif high - low > MAX_SPAN:
            checker.problem(
                label,
                f"a scale offers at most {MAX_SPAN + 1} points; {low}..{high} has {high - low + 1}",
            )
        return low, high

    def hints(self, engine: Engine, step: Step, state: SessionState) -> list[str]:
        low, high = self.bounds(step)
        t = engine.catalog.t
        return [t(state.language, "scale_hint", min=fmt(low), max=fmt(high))]

    def buttons(self, engine: Engine, step: Step, state: SessionState) -> tuple[Button, ...]:
        low, high = self.bounds(step)
        assert low is not None
        assert high is not None
        if high - low <= MAX_BUTTONS_SPAN:
            return tuple(
                Button(ButtonKind.CHOICE, str(v), str(v)) for v in range(int(low), int(high) + 1)
            )
        return ()

    def on_text(
        self, engine: Engine, step: Step, state: SessionState, text: str, out: list[Event]
    ) -> SessionState:
        choice = engine.match(self.buttons(engine, step, state), text)
        if choice is None:
            return super().on_text(engine, step, state, text, out)
        return engine.choice(state, choice, out)

    def on_choice(
        self, engine: Engine, step: Step, state: SessionState, choice_id: str, out: list[Event]
    ) -> SessionState:
        return engine.store_single(step, state, int(choice_id), out, text=choice_id)
