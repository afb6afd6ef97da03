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

import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from qn_bot.records import VoteCounts

#: How many cards a voting session shows before « Encore 5 ? ».
SESSION_CARDS = 5
#: The step kinds whose items are statements (short sentences of the citizens' own).
STATEMENT_KINDS = frozenset({"list", "text"})
_NEW_BOOST = 8.0
_HALF_LIFE_VOTES = 5.0
_NO_VOTES = VoteCounts(0, 0, 0)


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


def next_cards(
    candidates: Sequence[Candidate],
    viewer: int,
    seen: Collection[int],
    rng: random.Random,
    *,
    count: int = 1,
) -> list[int]:
    """Up to ``count`` item ids for ``viewer``, drawn in order of priority (weighted, without
    replacement): never their own statement, never one in ``seen`` (voted on, or on screen).
    The same ``rng`` state gives the same cards."""
    keyed: list[tuple[float, int]] = []
    for card in candidates:
        if card.author_id == viewer or card.item_id in seen:
            continue
        weight = priority(card.counts, card.extremity)
        # Efraimidis–Spirakis: the largest u^(1/w) are a weighted sample without replacement
        # (compared as log(u)/w, which keeps tiny weights apart).
        key = math.log(1.0 - rng.random()) / weight if weight > 0 else -math.inf
        keyed.append((key, card.item_id))
    keyed.sort(key=lambda kv: (-kv[0], kv[1]))
    return [item for _, item in keyed[:count]]


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
