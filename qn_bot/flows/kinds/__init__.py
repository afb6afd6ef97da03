"""The step kinds, by the name flow files give them (``kind = "list"``).

Adding a kind: a module defining a :class:`StepKindBase` subclass, and its registration line
below (or ``KINDS.register(MyKind())`` from a plug-in). The loader, the engine and the syntheses
ask the registry; none of them names a kind.
"""

from __future__ import annotations

from collections.abc import Iterator

from qn_bot.flows.format import Flow, Step
from qn_bot.flows.kinds.base import Answer, StepKindBase, fold
from qn_bot.flows.kinds.choice import ChoiceKind
from qn_bot.flows.kinds.consent import ConsentKind
from qn_bot.flows.kinds.info import InfoKind
from qn_bot.flows.kinds.list import ListKind
from qn_bot.flows.kinds.multichoice import MultichoiceKind
from qn_bot.flows.kinds.number import NumberKind
from qn_bot.flows.kinds.scale import ScaleKind
from qn_bot.flows.kinds.text import TextKind

__all__ = ["KINDS", "Answer", "KindRegistry", "StepKindBase", "fold"]


class KindRegistry:
    """Kinds in registration order, the order error messages list them in."""

    def __init__(self) -> None:
        self._kinds: dict[str, StepKindBase] = {}

    def register(self, kind: StepKindBase) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"step kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind

    def unregister(self, name: str) -> None:
        del self._kinds[name]

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __getitem__(self, name: str) -> StepKindBase:
        return self._kinds[name]

    def of(self, step: Step) -> StepKindBase:
        return self._kinds[step.kind]

    def __iter__(self) -> Iterator[StepKindBase]:
        return iter(tuple(self._kinds.values()))

    def names(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    def free_text_steps(self, flow: Flow) -> list[Step]:
        """The flow's steps whose answers are citizens' own words (list, text, and any plug-in
        kind that says so): what digests, themes, recaps and voting cards read."""
        return [step for step in flow.steps if self.of(step).free_text]


KINDS = KindRegistry()
KINDS.register(InfoKind())
KINDS.register(ConsentKind())
KINDS.register(TextKind())
KINDS.register(ListKind())
KINDS.register(ChoiceKind())
KINDS.register(MultichoiceKind())
KINDS.register(ScaleKind())
KINDS.register(NumberKind())
