"""The opinion method (qn_bot.opinions), pure: planted camps are found with their
representative and consensus statements; groups stay stable; nobody is shown below the
thresholds."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sklearn.metrics import adjusted_rand_score

from qn_bot.opinion_picture import render_opinion_map
from qn_bot.opinions import GroupHistory, KChoice, compute_opinions, standing
from qn_bot.opinions.clustering import WINS_TO_CHANGE_K, choose_k
from qn_bot.opinions.report import to_json, to_markdown
from qn_bot.records import Statement, Vote, VoteColumns

T = datetime(2026, 1, 15, tzinfo=UTC)


@dataclass(frozen=True)
class Planted:
    """Two camps of different sizes: opposite views on half the statements, random votes on
    the others but two, which everyone agrees with."""

    statements: list[Statement]
    votes: VoteColumns
    camp_of: dict[int, int]  # participant id -> 0 (the larger camp) or 1
    opposed: set[int]
    agreed: set[int]


def planted(
    large: int = 60,
    small: int = 30,
    n_statements: int = 40,
    per_person: int = 25,
    seed: int = 1,
    first_participant: int = 1,
    first_item: int = 1,
) -> Planted:
    rng = random.Random(seed)
    items = list(range(first_item, first_item + n_statements))
    opposed = set(items[: n_statements // 2])
    agreed = set(items[-2:])
    statements = [Statement(i, 10_000 + i, "idees", f"Énoncé {i}", T) for i in items]
    camp_of = {first_participant + n: 0 if n < large else 1 for n in range(large + small)}
    pids, iids, values = [], [], []
    for pid, camp in camp_of.items():
        # every statement voted on by enough of each camp: the consensus pair always, the rest
        # at random
        seen = sorted(agreed) + rng.sample(sorted(set(items) - agreed), per_person - 2)
        for item in seen:
            if item in agreed:
                vote = Vote.AGREE if rng.random() < 0.9 else Vote.PASS
            elif item in opposed:
                side = Vote.AGREE if camp == 0 else Vote.DISAGREE
                vote = side if rng.random() < 0.85 else rng.choice(list(Vote))
            else:
                vote = rng.choice(list(Vote))
            pids.append(pid)
            iids.append(item)
            values.append(int(vote))
    return Planted(statements, VoteColumns(pids, iids, values), camp_of, opposed, agreed)


def found_camps(data: Planted, history: GroupHistory | None = None, threshold: int = 5) -> None:
    result = compute_opinions(
        data.statements, data.votes, history or GroupHistory(), min_group_size=threshold
    )
    assert result.participants_counted == len(data.camp_of)
    assert len(result.groups) == 2
    found = result.history.groups
    people = sorted(data.camp_of)
    ari = adjusted_rand_score([data.camp_of[p] for p in people], [found[p] for p in people])
    assert ari >= 0.9
    large, small = result.groups  # largest first
    assert abs(large.size - 60) <= 3
    assert abs(small.size - 30) <= 3
    for group in result.groups:
        ids = [s.item_id for s in group.representative]
        assert ids, "each camp has representative statements"
        assert set(ids) <= data.opposed
    large_first = large.representative[0]
    small_first = small.representative[0]
    assert large_first.agree > 0.7
    assert small_first.disagree > 0.7
    assert {s.item_id for s in result.consensus} == data.agreed
    for statement in result.consensus:
        assert statement.agree > 0.8


def test_planted_camps_their_statements_and_the_consensus_are_found() -> None:
    found_camps(planted())


def test_votes_on_other_items_are_ignored_and_thresholds_hold() -> None:
    data = planted()
    # votes on an item that is no statement (withdrawn, hidden) change nothing
    noisy = VoteColumns(
        [*data.votes.participant_ids, *data.camp_of],
        [*data.votes.item_ids, *([999_999] * len(data.camp_of))],
        [*data.votes.values, *([1] * len(data.camp_of))],
    )
    found_camps(Planted(data.statements, noisy, data.camp_of, data.opposed, data.agreed))
    # the small camp is below the anonymity threshold: it is not shown, the large one is
    result = compute_opinions(data.statements, data.votes, GroupHistory(), min_group_size=31)
    assert [g.size for g in result.groups] == [60]
    assert set(result.point_groups.tolist()) == {-1, result.groups[0].id}
    # fewer than everyone's threshold: no consensus either
    result = compute_opinions(data.statements, data.votes, GroupHistory(), min_group_size=91)
    assert result.groups == ()
    assert result.consensus == ()


def test_no_groups_before_fifteen_participants_counted() -> None:
    data = planted(large=9, small=5)
    result = compute_opinions(data.statements, data.votes, GroupHistory(), min_group_size=3)
    assert result.participants_counted == 14
    assert result.groups == ()
    # one group of everyone: plain majorities (the larger camp's side included)
    assert {s.item_id for s in result.consensus} >= data.agreed
    # the fifteenth makes groups possible
    data = planted(large=10, small=5)
    result = compute_opinions(data.statements, data.votes, GroupHistory(), min_group_size=3)
    assert result.participants_counted == 15
    assert len(result.groups) == 2


def test_a_participant_counts_from_seven_votes_or_every_statement() -> None:
    data = planted()
    few = 100_000
    votes = VoteColumns(
        [*data.votes.participant_ids, *([few] * 6), few + 1, few + 1],
        [*data.votes.item_ids, *range(1, 7), 1, 2],
        [*data.votes.values, *([1] * 6), 1, 1],
    )
    result = compute_opinions(data.statements, votes, GroupHistory(), min_group_size=5)
    assert result.participants_counted == 90
    assert few not in result.history.groups
    # with two statements only, two votes are enough
    two = [s for s in data.statements if s.item_id in (1, 2)]
    result = compute_opinions(two, votes, GroupHistory(), min_group_size=5)
    assert few + 1 in result.history.groups or result.participants_counted > 2


def test_groups_keep_their_ids_from_one_computation_to_the_next() -> None:
    data = planted()
    first = compute_opinions(data.statements, data.votes, GroupHistory(), min_group_size=5)
    # a few more citizens of each camp, other votes: the same groups keep the same ids
    more = planted(large=70, small=35, seed=2)
    second = compute_opinions(more.statements, more.votes, first.history, min_group_size=5)
    ids_before = {first.history.groups[p] for p in data.camp_of if data.camp_of[p] == 0}
    ids_after = {second.history.groups[p] for p in data.camp_of if data.camp_of[p] == 0}
    assert len(ids_before) == 1
    assert ids_before == ids_after
    assert second.history.k.k == 2


def test_k_changes_only_after_winning_several_times_running() -> None:
    last = KChoice(2)
    scores = {2: 0.5, 3: 0.6, 4: 0.1, 5: 0.1}
    for _ in range(WINS_TO_CHANGE_K - 1):
        last = choose_k(scores, last)
        assert last.k == 2
        assert last.challenger == 3
    assert choose_k(scores, last) == KChoice(3)
    # an interruption starts the count again
    interrupted = choose_k({**scores, 2: 0.9}, KChoice(2, 3, WINS_TO_CHANGE_K - 1))
    assert interrupted == KChoice(2)
    assert choose_k(scores, KChoice()) == KChoice(3)


def test_a_citizen_learns_the_group_closest_to_them_and_the_bridges() -> None:
    data = planted()
    result = compute_opinions(data.statements, data.votes, GroupHistory(), min_group_size=5)
    large, small = result.groups
    # a newcomer who voted like the small camp on four statements only (not counted yet)
    mine = {item: Vote.DISAGREE for item in sorted(data.opposed)[:4]}
    assert standing(result, mine).group_id == small.id
    mine = {item: Vote.AGREE for item in sorted(data.opposed)[:4]}
    here = standing(result, mine)
    assert here.group_id == large.id
    assert {s.item_id for s in here.bridges} >= data.agreed
    assert standing(result, {123_456: Vote.AGREE}).group_id is None


def test_nothing_to_compute() -> None:
    result = compute_opinions([], VoteColumns((), (), ()), GroupHistory(), min_group_size=5)
    assert (result.participants_counted, result.groups, result.consensus) == (0, (), ())
    assert np.asarray(result.points).shape[0] == 0


def test_the_report_in_both_languages_and_the_picture() -> None:
    data = planted()
    result = compute_opinions(data.statements, data.votes, GroupHistory(), min_group_size=5)
    fr = to_markdown(result, "Construire 2030", "fr")
    assert fr.startswith("# Carte des opinions\u00a0: Construire 2030\n")
    assert "## Groupe A (60 personnes)" in fr
    assert "## Ce qui rassemble" in fr
    assert "«\u00a0Énoncé 40\u00a0» — 91\u00a0% d’accord, 0\u00a0% pas d’accord" in fr
    en = to_markdown(result, "Building 2030", "en")
    assert "## Group B (30 people)" in en
    assert "## Common ground" in en
    printed = to_json(result)
    assert list(printed) == ["participants_counted", "groups", "consensus"]
    assert printed["consensus"][0] == {"text": "Énoncé 40", "agree": 0.911, "disagree": 0.0}
    png = render_opinion_map(result, "fr")
    assert png.startswith(b"\x89PNG")
    assert render_opinion_map(result, "fr") == png  # same map, same bytes
    empty = compute_opinions([], VoteColumns((), (), ()), GroupHistory(), min_group_size=5)
    assert render_opinion_map(empty, "en").startswith(b"\x89PNG")
    assert "No opinion groups yet" in to_markdown(empty, "X", "en")
