"""Where one citizen stands on the opinion map (for /bilan): the group they are closest to and
the statements that bridge the groups."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from qn_bot.opinions.model import OpinionMap, Standing
from qn_bot.opinions.projection import place
from qn_bot.records import Vote


def standing(opinions: OpinionMap, votes: Mapping[int, Vote]) -> Standing:
    """``votes``: the citizen's votes (item id -> vote). They need not be counted yet: their
    votes are placed on the map's axes, and the nearest shown group's centre wins (none when
    no group is shown or none of their votes is on a statement of the map)."""
    point = place(opinions.basis, {item: int(vote) for item, vote in votes.items()})
    group_id: int | None = None
    if point is not None and opinions.groups:
        centres = np.array([g.centre for g in opinions.groups])
        group_id = opinions.groups[int(np.argmin(((centres - point) ** 2).sum(axis=1)))].id
    return Standing(group_id, opinions.bridges)
