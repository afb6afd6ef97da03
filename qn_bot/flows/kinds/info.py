"""``info``: a text shown on the way, asking nothing."""

from __future__ import annotations

from qn_bot.flows.format import StepKind
from qn_bot.flows.kinds.base import StepKindBase


class InfoKind(StepKindBase):
    name = StepKind.INFO
    keys = frozenset({"when"})
    is_question = False
    stores_answers = False
