"""Which voting card next (qn_bot.cards): Pol.is's priority, deterministic under a seeded
random source."""

from __future__ import annotations

import random
from collections import Counter

from qn_bot.cards import Candidate, Ranking, next_cards, priority
from qn_bot.records import VoteCounts


def draws(cards: list[Candidate], n: int = 2000, viewer: int = 99) -> Counter[int]:
    rng = random.Random(7)
    return Counter(next_cards(cards, viewer, (), rng)[0] for _ in range(n))


def test_a_new_statement_rises_to_the_top() -> None:
    old = Candidate(1, author_id=1, counts=VoteCounts(30, 10, 5))
    new = Candidate(2, author_id=2)
    assert priority(new.counts) > 4 * priority(old.counts)
    assert draws([old, new])[2] > 0.8 * 2000


def test_a_statement_everyone_passes_on_sinks() -> None:
    passed = Candidate(1, author_id=1, counts=VoteCounts(1, 1, 20))
    voted = Candidate(2, author_id=2, counts=VoteCounts(11, 11, 0))
    assert priority(voted.counts) > 10 * priority(passed.counts)


def test_a_statement_that_splits_the_groups_comes_first() -> None:
    same = VoteCounts(10, 10, 2)
    assert priority(same, extremity=1.5) > priority(same, extremity=0.0)
    drawn = draws([Candidate(1, 1, same, 0.0), Candidate(2, 2, same, 1.5)])
    assert drawn[2] > drawn[1]


def test_never_their_own_never_one_seen() -> None:
    cards = [Candidate(1, author_id=5), Candidate(2, author_id=6), Candidate(3, author_id=7)]
    rng = random.Random(1)
    for _ in range(50):
        assert next_cards(cards, viewer=5, seen={2}, rng=rng, count=3) == [3]
    assert next_cards(cards, viewer=5, seen={2, 3}, rng=rng) == []


def test_the_same_random_source_gives_the_same_cards() -> None:
    cards = [Candidate(i, author_id=i, counts=VoteCounts(i % 4, i % 3, i % 2)) for i in range(40)]
    first = next_cards(cards, 99, (), random.Random(3), count=10)
    assert next_cards(cards, 99, (), random.Random(3), count=10) == first
    assert len(set(first)) == 10


def test_when_most_are_seen_the_rest_are_still_drawn_by_priority() -> None:
    cards = [Candidate(i, author_id=i) for i in range(200)]
    cards[150] = Candidate(150, 150, VoteCounts(5, 5, 5))  # voted on, a third passed
    ranking = Ranking(cards)
    seen = set(range(200)) - {150, 151}
    rng = random.Random(2)
    drawn = Counter(ranking.draw(99, seen, rng)[0] for _ in range(1000))
    assert set(drawn) == {150, 151}
    assert drawn[151] > 10 * drawn[150]
    assert sorted(ranking.draw(99, seen, rng, count=5)) == [150, 151]
