"""The synthesis the page formats render: every answer, none withheld."""

from __future__ import annotations

from qn_bot.exporters.base import ExportSource
from qn_bot.participants import campaign_participants, count_participants
from qn_bot.synthesis import Synthesis, build_synthesis


async def full_synthesis(source: ExportSource) -> Synthesis:
    # The data controller's copy: every answer, none withheld.
    people = await campaign_participants(source.tx, source.campaign, source.flow)
    return build_synthesis(
        source.campaign,
        source.flow,
        source.items,
        source.language,
        source.now,
        participants=count_participants(people),
    )
