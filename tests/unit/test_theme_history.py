"""Each week's themes kept with an identity (issue 14 §4): pure rules — a theme keeps its
identity while it matches, merges and splits say where they come from, labels are made of words
several citizens used, the top themes over the weeks."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import numpy as np

from qn_bot.records import StoredVector
from qn_bot.themes.embedding import DIMENSIONS, quantise
from qn_bot.themes.history import GroupTheme, HistoryTheme, Series, carry, group_week, top_series
from qn_bot.themes.label import label_groups
from tests.conftest import T0


def at(degrees: float) -> tuple[float, float, float]:
    r = math.radians(degrees)
    return (math.cos(r), math.sin(r), 0.0)


def g(label: str, count: int, degrees: float, people: int = 5) -> GroupTheme:
    return GroupTheme(label, count, tuple(f"P-{n}" for n in range(people)), at(degrees), ())


def h(identity: int, label: str, count: int, degrees: float, people: int = 5) -> HistoryTheme:
    return HistoryTheme(identity, label, count, people, at(degrees))


def fresh() -> itertools.count[int]:
    return itertools.count(-1, -1)


def test_a_theme_keeps_its_identity_from_week_to_week_and_a_new_one_gets_its_own() -> None:
    ids = fresh()
    first = carry([], [g("vélo", 6, 0), g("loyers", 9, 90)], lambda: next(ids))
    assert [t.identity for t in first] == [-1, -2]
    second = carry(first, [g("Mobilité douce", 12, 5), g("écoles", 7, 180)], lambda: next(ids))
    assert [(t.identity, t.label, t.parents) for t in second] == [
        (-1, "Mobilité douce", (-1,)),
        (-3, "écoles", ()),
    ]
    third = carry(second, [g("pistes cyclables", 15, 8)], lambda: next(ids))
    assert [(t.identity, t.parents) for t in third] == [(-1, (-1,))]


def test_a_merge_keeps_the_bigger_parent_and_names_both() -> None:
    before = [h(10, "vélo", 6, 0), h(11, "trottinette", 5, 20), h(12, "logement", 20, 100)]
    ids = fresh()
    after = carry(
        before, [g("mobilité", 12, 10), g("achat", 10, 108), g("loyers", 9, 92)], lambda: next(ids)
    )
    mobility, buying, rents = after
    assert (mobility.identity, mobility.parents) == (10, (10, 11))
    # A split: the bigger part goes on as the theme, the other is new and says where from.
    assert (buying.identity, buying.parents) == (12, (12,))
    assert (rents.identity, rents.parents) == (-1, (12,))


def test_the_top_themes_over_the_weeks_by_identity_with_their_latest_label() -> None:
    weeks = [
        [h(1, "vélo", 6, 0), h(2, "loyers", 9, 90)],
        [],  # a week without themes: zeros
        [h(1, "Mobilité douce", 12, 5), h(3, "écoles", 4, 180), h(4, "", 30, 270)],
        [h(1, "pistes cyclables", 15, 8), h(5, "bruit", 3, 45, people=1)],
    ]
    assert top_series(weeks, limit=3, minimum=2) == (
        Series("pistes cyclables", (6, 0, 12, 15)),
        Series("loyers", (9, 0, 0, 0)),
        Series("écoles", (0, 0, 4, 0)),
    )  # unnamed (4) and one-citizen (5) themes are never drawn


def test_a_label_is_made_of_words_several_citizens_used() -> None:
    group = ["zorglub et vélo", "zorglub encore et vélo", "un vélo cargo"]
    # "zorglub" twice, but one citizen's: only "vélo", said by two, names the group.
    labels = label_groups([group], "fr", authors=[["ann", "ann", "bob"]])[0]
    assert "zorglub" not in labels
    assert labels[0] == "vélo"
    assert label_groups([["zorglub", "zorglub bis"]], "fr", authors=[["ann", "ann"]]) == [()]
    # However small the group, a word two citizens share names it.
    assert label_groups([["zorglub", "zorglub bis"]], "fr", authors=[["ann", "bob"]]) == [
        ("zorglub",)
    ]


def _near(axis: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    v = np.zeros(DIMENSIONS, dtype=np.float32)
    v[axis] = 1.0
    return quantise(v + rng.normal(0, 0.05, DIMENSIONS).astype(np.float32))


def test_a_week_grouped_for_keeping() -> None:
    bikes = ["des pistes cyclables", "un vélo pour tous", "pistes cyclables sûres", "vélo cargo"]
    rows = [StoredVector(n, f"P-{n}", text, _near(0, n)) for n, text in enumerate(bikes)]
    rows += [StoredVector(9, "P-1", "des pistes cyclables encore", _near(0, 9))]
    works = ["télétravail", "bosser chez soi", "travail à la maison", "télétravail partout"]
    rows += [StoredVector(20 + n, f"P-{20 + n}", t, _near(1, 20 + n)) for n, t in enumerate(works)]
    week = group_week(rows, "fr", T0, T0 + timedelta(days=7))
    assert week is not None
    assert week.complete
    by_label = {t.label: t for t in week.themes}
    bike = by_label["pistes cyclables"]
    assert (bike.count, bike.people) == (5, ("P-0", "P-1", "P-2", "P-3"))
    # One item per citizen whose words make the label (what erasure is checked against).
    assert bike.holders == (0, 2, 9)
    assert abs(np.linalg.norm(bike.centroid) - 1) < 1e-3
    assert np.argmax(np.abs(bike.centroid)) == 0  # the model's own space, not re-centred
    assert "télétravail" in by_label
    # An item not embedded yet: the week is grouped, not complete (it is not kept).
    late = group_week([*rows, StoredVector(99, "P-9", "vélo", None)], "fr", T0, T0)
    assert late is not None
    assert not late.complete
