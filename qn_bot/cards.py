"""Which voting card next (issue 15): pure, the random source injected.

Pol.is's published priority, written from its description: a statement earns its place by how
much a vote on it can still tell — its *importance* ``(1 − P) · (E + 1) · A``, where ``P`` and
``A`` are its pass and agree rates (smoothed: ``(n + 1) / (S + 2)`` over the ``S`` votes seen),
and ``E`` how far it separates the opinion groups when there are groups (0 without) — boosted
while it has few votes (``1 + 8 · 2^(−S/5)``: a new statement rises to the top), squared. The
card is then drawn with chances in proportion to its priority, so that two citizens voting at
once are not all shown the same card.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from qn_bot.records import VoteCounts

#: How many cards a voting session shows before « Encore 5 ? ».
SESSION_CARDS = 5
#: The step kinds whose items are statements (short sentences of the citizens' own).
_NEW_BOOST = 8.0
_HALF_LIFE_VOTES = 5.0
_NO_VOTES = VoteCounts(0, 0, 0)
#: Draws over every candidate before drawing among the allowed ones only.
_FAST_TRIES = 16


@dataclass(frozen=True, slots=True)
class Candidate:
    """A statement that may be shown: its item, its author, its votes so far."""

    item_id: int
    author_id: int
    counts: VoteCounts = _NO_VOTES
    extremity: float = 0.0  # how far it separates the groups (0: no groups, or none)


def priority(counts: VoteCounts, extremity: float = 0.0) -> float:
    seen = counts.total
    passes = (counts.passed + 1) / (seen + 2)
    agrees = (counts.agree + 1) / (seen + 2)
    importance = (1 - passes) * (extremity + 1) * agrees
    novelty = 1 + _NEW_BOOST * 2 ** (-seen / _HALF_LIFE_VOTES)
    return (importance * novelty) ** 2


class Ranking:
    """The candidates' priorities, summed once (a campaign's pool is shared by every voter):
    a draw then costs a few bisections, not a pass over every statement."""

    __slots__ = ("_authors", "_cumulative", "_items", "_weights")

    def __init__(self, cards: Sequence[Candidate]) -> None:
        self._items = [card.item_id for card in cards]
        self._authors = [card.author_id for card in cards]
        self._weights = [priority(card.counts, card.extremity) for card in cards]
        self._cumulative = list(itertools.accumulate(self._weights))

    def draw(
        self, viewer: int, seen: Collection[int], rng: random.Random, *, count: int = 1
    ) -> list[int]:
        """Up to ``count`` item ids for ``viewer``, each drawn with chances in proportion to its
        priority among those left (a weighted draw without replacement): never their own
        statement, never one in ``seen`` (voted on, or on screen). The same ``rng`` state gives
        the same cards."""
        picked: list[int] = []
        total = self._cumulative[-1] if self._cumulative else 0.0
        for _ in range(count):
            found = self._draw_fast(viewer, seen, picked, rng, total)
            if found is None:
                found = self._draw_slow(viewer, seen, picked, rng)
            if found is None:
                break
            picked.append(found)
        return picked

    def _allowed(self, index: int, viewer: int, seen: Collection[int], picked: list[int]) -> bool:
        item = self._items[index]
        return self._authors[index] != viewer and item not in seen and item not in picked

    def _draw_fast(
        self,
        viewer: int,
        seen: Collection[int],
        picked: list[int],
        rng: random.Random,
        total: float,
    ) -> int | None:
        """A draw over every candidate, again while it falls on one ruled out: right while
        most are still allowed (a citizen has voted on few of them)."""
        if total <= 0:
            return None
        for _ in range(_FAST_TRIES):
            index = bisect.bisect_right(self._cumulative, rng.random() * total)
            index = min(index, len(self._items) - 1)
            if self._allowed(index, viewer, seen, picked):
                return self._items[index]
        return None

    def _draw_slow(
        self, viewer: int, seen: Collection[int], picked: list[int], rng: random.Random
    ) -> int | None:
        """A draw among the allowed ones only (most are ruled out)."""
        allowed = [n for n in range(len(self._items)) if self._allowed(n, viewer, seen, picked)]
        weights = [self._weights[n] for n in allowed]
        if not allowed:
            return None
        if sum(weights) <= 0:
            return self._items[allowed[0]]
        return self._items[rng.choices(allowed, weights)[0]]


def next_cards(
    candidates: Sequence[Candidate],
    viewer: int,
    seen: Collection[int],
    rng: random.Random,
    *,
    count: int = 1,
) -> list[int]:
    """:meth:`Ranking.draw` over ``candidates``."""
    return Ranking(candidates).draw(viewer, seen, rng, count=count)


def candidates(
    statements: Sequence[tuple[int, int]],
    counts: Mapping[int, VoteCounts],
    extremity: Mapping[int, float] | None = None,
) -> list[Candidate]:
    """``statements``: (item id, author id) of the public statements."""
    far = extremity if extremity is not None else {}
    return [
        Candidate(item, author, counts.get(item, _NO_VOTES), far.get(item, 0.0))
        for item, author in statements
    ]
