"""Each week's themes, kept with an identity (issue 14 §4): pure, no I/O.

A week's themes are grouped from the stored vectors like every other theme
(:func:`qn_bot.themes.compute.group_items`), named only by words several citizens used, and
described by what can be kept for months without keeping anyone's words: a label, counts, a
centroid in the model's own space (so that any two weeks compare) and the items whose words make
the label (``holders``: when those are erased or changed, the stored label is made again).

A theme keeps its identity while it matches one of the previous week's themes
(:func:`qn_bot.themes.trends.match`); a merge goes on as its bigger parent, a split as its
bigger part, and both record where they come from (``parents``). The store keeps them
(:mod:`qn_bot.store.theme_history`), the digest reads them back (:mod:`.digest_history`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from qn_bot.digest.themes import MAX_THEMES
from qn_bot.records import StoredVector
from qn_bot.themes.compute import METHOD_EMBEDDINGS, group_items
from qn_bot.themes.embedding import dequantise
from qn_bot.themes.label import label_groups, label_key, terms
from qn_bot.themes.trends import WeekTheme, match

#: Items kept per theme as the label's holders, one per citizen: enough for the label to
#: outlive a few erasures before it is made again.
HOLDERS = 8


@dataclass(frozen=True, slots=True)
class GroupTheme:
    """One theme of a week as grouped now."""

    label: str  # "" when no word of it comes from several citizens
    count: int  # public items
    people: tuple[str, ...]  # its citizens' pseudonyms, sorted (never stored)
    centroid: tuple[float, ...]  # unit, in the model's space
    holders: tuple[int, ...]  # items whose words make the label, one per citizen


@dataclass(frozen=True, slots=True)
class WeekGroup:
    start: datetime
    end: datetime
    themes: tuple[GroupTheme, ...]  # most items first
    complete: bool  # every public item of the week is embedded: it may be kept


@dataclass(frozen=True, slots=True)
class HistoryTheme:
    """One theme in one week, kept or about to be."""

    identity: int  # the id of the theme's first kept week; negative until kept
    label: str
    count: int
    people: int
    centroid: tuple[float, ...]
    parents: tuple[int, ...] = ()  # identities of the previous week's themes it comes from
    row: int | None = None  # the kept row's id


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    counts: tuple[int, ...]  # per week, oldest first


def _centroid(vectors: np.ndarray) -> tuple[float, ...]:
    mean = vectors.mean(axis=0)
    unit = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return tuple(round(float(x), 4) for x in unit)


def label_holders(
    texts: Sequence[tuple[int, str, str]], label: str, language: str
) -> tuple[int, ...]:
    """(item id, author, text) → the first item of each author whose words hold the label."""
    key = label_key(label, language) if label else None
    if key is None:
        return ()
    chosen: dict[str, int] = {}
    for item_id, author, text in sorted(texts):
        if author not in chosen and key in terms(text, language):
            chosen[author] = item_id
            if len(chosen) == HOLDERS:
                break  # the label is frequent: a big theme is not read to its end
    return tuple(sorted(chosen.values()))


def group_week(
    rows: Sequence[StoredVector],
    language: str,
    start: datetime,
    end: datetime,
    *,
    limit: int = MAX_THEMES,
) -> WeekGroup | None:
    """The week's themes by meaning from ``rows`` (the step's public items created in it);
    None when too few are embedded to group (CPU-bound: run it in a thread)."""
    authors = {r.item_id: r.participant for r in rows}
    grouped = group_items(
        [(r.item_id, r.text, r.vector) for r in rows], language, limit=limit, authors=authors
    )
    if grouped.method != METHOD_EMBEDDINGS:
        return None
    members: list[list[StoredVector]] = [[] for _ in grouped.labels]
    for r in rows:
        theme = grouped.of.get(r.item_id)
        if theme is not None:
            members[theme].append(r)
    themes = []
    for label, count, mine in zip(grouped.labels, grouped.counts, members, strict=True):
        embedded = [r.vector for r in mine if r.vector is not None]
        themes.append(
            GroupTheme(
                label,
                count,
                tuple(sorted({r.participant for r in mine})),
                _centroid(dequantise(embedded)),
                label_holders([(r.item_id, r.participant, r.text) for r in mine], label, language),
            )
        )
    complete = all(r.vector is not None for r in rows)
    return WeekGroup(start, end, tuple(themes), complete)


def relabel_week(
    rows: Sequence[StoredVector], centroids: Sequence[bytes], language: str
) -> list[tuple[str, tuple[int, ...]]]:
    """A kept week's labels made again from its live items (``rows``, the week's public items
    now): each embedded item joins the nearest kept centroid, each theme is named again by
    words several of its citizens used. Per theme: (label, holders); ("", ()) for none."""
    embedded = [r for r in rows if r.vector is not None]
    if not embedded or not centroids:
        return [("", ())] * len(centroids)
    centres = dequantise(list(centroids))
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    vectors = dequantise([r.vector for r in embedded if r.vector is not None])
    nearest = np.argmax(vectors @ centres.T, axis=1)
    members: list[list[StoredVector]] = [[] for _ in centroids]
    for row, theme in zip(embedded, nearest, strict=True):
        members[int(theme)].append(row)
    words = label_groups(
        [[r.text for r in m] for m in members],
        language,
        authors=[[r.participant for r in m] for m in members],
    )
    out = []
    for found, mine in zip(words, members, strict=True):
        label = found[0] if found else ""
        out.append(
            (
                label,
                label_holders([(r.item_id, r.participant, r.text) for r in mine], label, language),
            )
        )
    return out


def as_week(themes: Sequence[HistoryTheme]) -> list[WeekTheme]:
    return [WeekTheme(t.label, t.count, t.centroid, t.people) for t in themes]


def carry(
    previous: Sequence[HistoryTheme], current: Sequence[GroupTheme], fresh: Callable[[], int]
) -> tuple[HistoryTheme, ...]:
    """``current``'s themes with their identity: a theme matched to the previous week's goes on
    as it when it is that theme's biggest heir (the bigger of a merge's parents; the bigger part
    of a split); any other gets ``fresh()``. ``parents``: every previous theme it matched."""
    now = [WeekTheme(t.label, t.count, t.centroid, len(t.people)) for t in current]
    sources, heirs = match(as_week(previous), now)

    def main_heir(p: int) -> int:
        return max(heirs[p], key=lambda c: (current[c].count, -c))

    out = []
    for c, theme in enumerate(current):
        found = sources.get(c, [])
        goes_on = [p for p in found if main_heir(p) == c]
        identity = (
            previous[max(goes_on, key=lambda p: (previous[p].count, -p))].identity
            if goes_on
            else fresh()
        )
        out.append(
            HistoryTheme(
                identity,
                theme.label,
                theme.count,
                len(theme.people),
                theme.centroid,
                tuple(previous[p].identity for p in found),
            )
        )
    return tuple(out)


def top_series(
    weeks: Sequence[Sequence[HistoryTheme]], *, limit: int, minimum: int
) -> tuple[Series, ...]:
    """The ``limit`` themes with the most items over ``weeks`` (oldest first), each with its
    count per week and its latest label. A theme never named, or never given by ``minimum``
    citizens in a week, is left out: a line would point at its few authors."""
    totals: dict[int, int] = {}
    labels: dict[int, str] = {}
    for week in weeks:
        for theme in week:
            totals[theme.identity] = totals.get(theme.identity, 0) + theme.count
            if theme.label and theme.people >= minimum:
                labels[theme.identity] = theme.label
    chosen = sorted(labels, key=lambda i: (-totals[i], labels[i]))[:limit]
    out = []
    for identity in chosen:
        counts = tuple(sum(t.count for t in week if t.identity == identity) for week in weeks)
        out.append(Series(labels[identity], counts))
    return tuple(out)
