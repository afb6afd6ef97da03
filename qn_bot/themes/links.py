"""Links between sections (issue 14 §5): the theme pairs the same citizens give on both sides of
a pair the method relates (``links`` in the flow: what dies ↔ what emerges, means ↔ actors).

Pure, no I/O. A cell counts distinct citizens, and its lift compares that count with chance:
among the citizens who gave a theme on both sides, ``count × people / (row's × column's)`` —
above 1, the two themes go together more often than if they were unrelated. A cell whose count
is under the anonymity threshold (:mod:`qn_bot.disclosure`) is withheld, count and lift alike: a
pair of themes is a finer cut than a theme, and a small one would point at its few authors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from qn_bot.flows.format import Link
from qn_bot.themes.compute import StepThemes


@dataclass(frozen=True, slots=True)
class LinkCell:
    left: str
    right: str
    count: int | None  # distinct citizens; None when withheld
    lift: float | None  # None when withheld

    @property
    def withheld(self) -> bool:
        return self.count is None


@dataclass(frozen=True, slots=True)
class LinkGrid:
    rows: tuple[str, ...]  # the left side's themes, most citizens first
    columns: tuple[str, ...]  # the right side's
    cells: tuple[tuple[LinkCell, ...], ...]  # [row][column]
    people: int  # citizens with a theme on both sides
    minimum: int

    def cell(self, left: str, right: str) -> LinkCell:
        return self.cells[self.rows.index(left)][self.columns.index(right)]


@dataclass(frozen=True, slots=True)
class SectionLink:
    link: Link
    grid: LinkGrid


def _ranked(themes_of: Mapping[str, Collection[str]]) -> tuple[str, ...]:
    people: dict[str, int] = {}
    for found in themes_of.values():
        for theme in found:
            people[theme] = people.get(theme, 0) + 1
    return tuple(sorted(people, key=lambda t: (-people[t], t)))


def link_grid(
    left: Mapping[str, Collection[str]], right: Mapping[str, Collection[str]], minimum: int
) -> LinkGrid:
    """``left`` and ``right``: citizen → the themes of their items on each side."""
    both = [p for p in left if left[p] and right.get(p)]
    on_left = {p: set(left[p]) for p in both}
    on_right = {p: set(right[p]) for p in both}
    rows, columns = _ranked(on_left), _ranked(on_right)
    row_people = {t: sum(t in s for s in on_left.values()) for t in rows}
    column_people = {t: sum(t in s for s in on_right.values()) for t in columns}
    together: dict[tuple[str, str], int] = {}
    for p in both:
        for a in on_left[p]:
            for b in on_right[p]:
                together[a, b] = together.get((a, b), 0) + 1
    people = len(both)
    cells = []
    for a in rows:
        line = []
        for b in columns:
            count = together.get((a, b), 0)
            if count < minimum:
                line.append(LinkCell(a, b, None, None))
            else:
                lift = count * people / (row_people[a] * column_people[b])
                line.append(LinkCell(a, b, count, round(lift, 3)))
        cells.append(tuple(line))
    return LinkGrid(rows, columns, tuple(cells), people, minimum)


def strong_pairs(grid: LinkGrid, limit: int = 3) -> list[LinkCell]:
    """For each row, its shown partner most above chance (lift > 1); most citizens first."""
    best: list[LinkCell] = []
    for line in grid.cells:
        shown = [c for c in line if c.lift is not None and c.lift > 1]
        if shown:
            best.append(max(shown, key=lambda c: (c.lift or 0.0, c.count or 0)))
    best.sort(key=lambda c: (-(c.count or 0), -(c.lift or 0.0), c.left, c.right))
    return best[:limit]


def _side(found: Mapping[str, StepThemes], steps: Sequence[str]) -> dict[str, set[str]]:
    """Citizen → the named themes of their items (a group no shared word names is in no link:
    its row would need a name)."""
    out: dict[str, set[str]] = {}
    for step in steps:
        for theme in found[step].themes:
            if not theme.theme:
                continue
            for item in theme.items:
                out.setdefault(item.participant, set()).add(theme.theme)
    return out


def section_links(
    found: Sequence[StepThemes],
    links: Sequence[Link],
    minimum: int,
    shows: Callable[[str], bool] = lambda step: True,
) -> tuple[SectionLink, ...]:
    """Each declared link's grid, from the steps' themes. A step not shown
    (:meth:`qn_bot.disclosure.Disclosure.shows`) or without themes is left out of its side; a
    link with an empty side is left out."""
    by_step = {s.step: s for s in found}
    return step_links({s: _side(by_step, [s]) for s in by_step}, links, minimum, shows)


def step_links(
    themes_of: Mapping[str, Mapping[str, Collection[str]]],
    links: Sequence[Link],
    minimum: int,
    shows: Callable[[str], bool] = lambda step: True,
) -> tuple[SectionLink, ...]:
    """:func:`section_links` from each step's citizen → the themes of their items there (the
    digest's period, where only who gave which theme is known)."""
    out = []
    for link in links:
        left = [s for s in link.left if s in themes_of and shows(s)]
        right = [s for s in link.right if s in themes_of and shows(s)]
        if not left or not right:
            continue
        grid = link_grid(_merged(themes_of, left), _merged(themes_of, right), minimum)
        if grid.rows and grid.columns:
            out.append(SectionLink(link, grid))
    return tuple(out)


def _merged(
    themes_of: Mapping[str, Mapping[str, Collection[str]]], steps: Sequence[str]
) -> dict[str, set[str]]:
    """Several steps read as one side: each citizen's themes over all of them."""
    out: dict[str, set[str]] = {}
    for step in steps:
        for person, found in themes_of[step].items():
            out.setdefault(person, set()).update(found)
    return out
