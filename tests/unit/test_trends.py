"""Themes across weeks (qn_bot.themes.trends): golden cases."""

from __future__ import annotations

import math

from qn_bot.themes.trends import FADING, NEW, RISING, STEADY, Trend, WeekTheme, trends


def at(degrees: float) -> tuple[float, float, float]:
    """A unit centroid in a plane: themes 10° apart are the same, 90° apart are not."""
    r = math.radians(degrees)
    return (math.cos(r), math.sin(r), 0.0)


#: Off the plane: unrelated to every theme in it.
ELSEWHERE = (0.0, 0.0, 1.0)


def w(label: str, count: int, degrees: float) -> WeekTheme:
    return WeekTheme(label, count, at(degrees))


def test_identity_kept_by_centroid_and_small_changes_are_no_trend() -> None:
    previous = [w("vélo", 12, 0), w("loyers", 9, 90), w("bruit", 1, 180), w("parcs", 8, 270)]
    current = [
        w("Mobilité douce", 21, 5),  # the same theme, relabelled: 12 → 21
        w("loyers", 10, 88),  # 9 → 10: steady, not a trend
        w("bruit", 2, 180),  # 1 → 2: not a trend
        WeekTheme("écoles", 6, ELSEWHERE),  # new
    ]
    assert trends(previous, current) == [
        Trend(NEW, "écoles", 0, 6),
        Trend(RISING, "Mobilité douce", 12, 21),
        Trend(FADING, "parcs", 8, 0),  # gone
    ]


def test_a_new_theme_needs_enough_items() -> None:
    assert trends([], [w("écoles", 4, 0)]) == []
    assert trends([], [w("écoles", 5, 0)]) == [Trend(NEW, "écoles", 0, 5)]


def test_merge_and_split_say_so() -> None:
    previous = [w("vélo", 6, 0), w("trottinette", 5, 20), w("logement", 20, 100)]
    current = [w("mobilité", 12, 10), w("loyers", 9, 92), w("achat", 10, 108)]
    assert trends(previous, current) == [
        Trend(STEADY, "achat", 11, 10, split_from="logement"),
        Trend(STEADY, "mobilité", 11, 12, merged_from=("vélo", "trottinette")),
        Trend(STEADY, "loyers", 9, 9, split_from="logement"),
    ]
