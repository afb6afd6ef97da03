"""What the method takes from one run to the next and what it gives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class KChoice:
    """How many groups, and the number that has been winning against it lately: k changes only
    when a challenger wins several computations running."""

    k: int | None = None
    challenger: int | None = None
    streak: int = 0


@dataclass(frozen=True, slots=True)
class GroupHistory:
    """The last computation's groups: where the next one starts from."""

    groups: Mapping[int, int] = field(default_factory=dict)  # participant id -> group id
    k: KChoice = KChoice()


@dataclass(frozen=True, slots=True)
class StatementRate:
    """A statement and how it was voted on (in a group, or by everyone): rates 0–1 of the
    votes cast on it there (passes count as votes)."""

    item_id: int
    text: str
    agree: float
    disagree: float
    votes: int


@dataclass(frozen=True, slots=True)
class Group:
    """An opinion group large enough to be shown."""

    id: int
    size: int
    representative: tuple[StatementRate, ...]
    centre: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Basis:
    """The opinion map's axes: where any set of votes lands on it."""

    statement_ids: IntArray  # sorted
    means: FloatArray  # per statement, the mean vote (what a missing vote counts as)
    components: FloatArray  # (2, statements)


@dataclass(frozen=True, slots=True)
class OpinionMap:
    participants_counted: int
    statements: int
    groups: tuple[Group, ...]  # shown groups only (anonymity threshold), largest first
    consensus: tuple[StatementRate, ...]
    history: GroupHistory  # every group, small ones too: the next computation's start
    basis: Basis
    points: FloatArray  # (participants counted, 2): for the picture, never published as such
    point_groups: IntArray  # their shown group's id, -1 for none
    bridges: tuple[StatementRate, ...] = ()  # consensus first, then the least divisive


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one citizen stands: the shown group they are closest to (None without groups)
    and the statements that bridge the groups."""

    group_id: int | None
    bridges: tuple[StatementRate, ...]
