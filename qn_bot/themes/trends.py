"""Themes from one week to the next (issue 14 §4): pure, no I/O.

A theme keeps its identity across weeks when its centroid is close to one of last week's
(cosine similarity at least ``SAME``, the centroids taken in the model's own space so that
weeks compare). Two of last week's themes closest to one of this week's merged into it; one of
last week's closest to two of this week's split. :func:`match` is that rule, shared by the
trends and by the themes' kept identities (:mod:`qn_bot.themes.history`).

A trend needs counts that mean something: a new theme needs ``MIN_NEW`` items, a rising or
fading one ``MIN_COUNT`` items in its larger week and a change of at least ``MIN_CHANGE`` items
and ``RATIO`` times, so that 1 → 2 is no trend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Measured on the real model (docs/themes.md): centroids of one topic's answers in two weeks
#: of three to five answers each are 0.59–0.83 alike, of two neighbouring topics (cycling,
#: public transport) at most 0.53, of unrelated ones 0.2–0.35.
SAME = 0.6
MIN_NEW = 5
MIN_COUNT = 5
MIN_CHANGE = 3
RATIO = 1.5

NEW = "new"
RISING = "rising"
FADING = "fading"
STEADY = "steady"  # only for a theme that merged or split


@dataclass(frozen=True, slots=True)
class WeekTheme:
    label: str
    count: int
    centroid: tuple[float, ...]  # unit
    people: int = 0  # distinct citizens (what a public output's threshold is about)


@dataclass(frozen=True, slots=True)
class Trend:
    kind: str  # NEW, RISING, FADING or STEADY
    label: str  # this week's label (last week's for a fading theme that is gone)
    before: int
    after: int
    merged_from: tuple[str, ...] = ()  # last week's labels that became this one
    split_from: str | None = None  # last week's label this one is a part of
    # The citizens of the theme the line names (last week's for a theme that is gone).
    people: int = field(default=0, compare=False)


def _similarity(a: Sequence[WeekTheme], b: Sequence[WeekTheme]) -> np.ndarray:
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x = np.asarray([t.centroid for t in a], dtype=np.float32)
    y = np.asarray([t.centroid for t in b], dtype=np.float32)
    return np.asarray(x @ y.T)


def _changed(before: int, after: int) -> str | None:
    low, high = sorted((before, after))
    if high < MIN_COUNT or high - low < MIN_CHANGE or high < RATIO * low:
        return None
    return RISING if after > before else FADING


def match(
    previous: Sequence[WeekTheme], current: Sequence[WeekTheme]
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Which themes are the same across the two weeks: per this week's theme (index), last
    week's it comes from (``sources``); per last week's, this week's it went to (``heirs``).
    Two sources: a merge; two heirs: a split."""
    sim = _similarity(current, previous)
    links: set[tuple[int, int]] = set()  # (this week's, last week's): the same theme
    if len(current) and len(previous):
        for c in range(len(current)):
            p = int(np.argmax(sim[c]))
            if sim[c, p] >= SAME:
                links.add((c, p))
        for p in range(len(previous)):
            c = int(np.argmax(sim[:, p]))
            if sim[c, p] >= SAME:
                links.add((c, p))
    sources: dict[int, list[int]] = {}
    heirs: dict[int, list[int]] = {}
    for c, p in sorted(links):
        sources.setdefault(c, []).append(p)
        heirs.setdefault(p, []).append(c)
    return sources, heirs


def trends(previous: Sequence[WeekTheme], current: Sequence[WeekTheme]) -> list[Trend]:
    """This week's new, rising and fading themes against last week's (and those that merged or
    split, even when steady): new first, then rising, steady, fading, each by its change."""
    sources, heirs = match(previous, current)
    out: list[Trend] = []
    for c, theme in enumerate(current):
        if c not in sources:
            if theme.count >= MIN_NEW:
                out.append(Trend(NEW, theme.label, 0, theme.count, people=theme.people))
            continue
        merged = tuple(previous[p].label for p in sources[c]) if len(sources[c]) > 1 else ()
        parent = sources[c][0]
        split = previous[parent].label if not merged and len(heirs[parent]) > 1 else None
        # A merged theme compares with what it merged; a part of a split with its share.
        if merged:
            before = sum(previous[p].count for p in sources[c])
        elif split is not None:
            total = sum(current[x].count for x in heirs[parent])
            before = round(previous[parent].count * theme.count / total) if total else 0
        else:
            before = previous[parent].count
        kind = _changed(before, theme.count)
        if kind is None and (merged or split is not None):
            kind = STEADY
        if kind is not None:
            out.append(
                Trend(kind, theme.label, before, theme.count, merged, split, people=theme.people)
            )
    for p, theme in enumerate(previous):
        if p not in heirs and _changed(theme.count, 0) is not None:
            out.append(Trend(FADING, theme.label, theme.count, 0, people=theme.people))
    order = {NEW: 0, RISING: 1, STEADY: 2, FADING: 3}
    return sorted(out, key=lambda t: (order[t.kind], -abs(t.after - t.before), t.label))
