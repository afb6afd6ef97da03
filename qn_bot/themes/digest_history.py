"""A digest's themes across the campaign's weeks (issue 14 §4) and its links between sections
(§5), from the period grouped by meaning (:func:`qn_bot.themes.digest.period_themes`).

1. Read, in a snapshot: the kept weeks of the chart's periods (:mod:`qn_bot.store.theme_history`)
   and whether each kept label still has two citizens behind it; a completed week that was never
   kept is grouped now from its stored vectors (once: it is kept below), a kept label that lost
   its citizens is made again from the week's live items.
2. Identities are carried week by week (:func:`qn_bot.themes.history.carry`), then, in one
   transaction, the weeks grouped now are kept (only completed weeks whose every public item is
   embedded: a week still filling, or half embedded, would be frozen wrong) and the labels made
   again replace the old ones. Two processes at once: the second finds the week kept and writes
   nothing of that step.
3. The trends (this period against the one before), each section's top themes over the weeks
   (the chart's lines) and the links between sections are derived; only what a public output may
   show: named themes given by at least the threshold's citizens, links of shown sections.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from qn_bot.digest.model import CampaignFacts, LinkBlock
from qn_bot.digest.period import Period
from qn_bot.flows.kinds import KINDS
from qn_bot.records import KeptTheme, StoredTheme, StoredVector
from qn_bot.repositories import Database, Transaction
from qn_bot.themes.cluster import MIN_VECTORS
from qn_bot.themes.embedding import MODEL_NAME, dequantise, quantise
from qn_bot.themes.history import (
    HistoryTheme,
    WeekGroup,
    carry,
    group_week,
    relabel_week,
    top_series,
)
from qn_bot.themes.label import LABEL_PEOPLE
from qn_bot.themes.links import step_links
from qn_bot.themes.links_text import heading, link_lines
from qn_bot.themes.trends import Trend, WeekTheme, trends

#: Themes per section on the chart.
CHART_THEMES = 3


@dataclass(slots=True)
class _Week:
    period: Period
    kept: list[StoredTheme] = field(default_factory=list)
    group: WeekGroup | None = None  # grouped now (not kept)
    relabelled: dict[int, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    themes: tuple[HistoryTheme, ...] = ()


async def with_history(
    store: Database,
    facts: CampaignFacts,
    periods: Sequence[Period],
    language: str,
    now: datetime,
) -> CampaignFacts:
    """``facts`` with their trends, chart lines and links; ``periods``: the chart's, oldest
    first, the digest's period last."""
    steps = [s.id for s in KINDS.free_text_steps(facts.flow)]
    async with store.snapshot() as tx:
        found = await _read(tx, facts, steps, periods, language, now)
    if not found:
        return dataclasses.replace(facts, links=_links(facts, language))
    _carry(found)
    await _keep(store, facts.campaign.id, found, now)
    minimum = facts.enough
    lines = {}
    shown_trends = {}
    for step, weeks in found.items():
        series = top_series([w.themes for w in weeks], limit=CHART_THEMES, minimum=minimum)
        if series:
            lines[step] = tuple((s.label, s.counts) for s in series)
        before, now_week = weeks[-2].themes if len(weeks) > 1 else (), weeks[-1].themes
        if before and now_week:
            shown_trends[step] = _shown(
                trends(_as_week(before), _as_week(now_week)), before, minimum
            )
    return dataclasses.replace(
        facts, trends=shown_trends, theme_lines=lines, links=_links(facts, language)
    )


async def _read(
    tx: Transaction,
    facts: CampaignFacts,
    steps: Sequence[str],
    periods: Sequence[Period],
    language: str,
    now: datetime,
) -> dict[str, list[_Week]]:
    campaign = facts.campaign.id
    first, current = periods[0], periods[-1]
    stored = await tx.theme_history.kept_weeks(
        campaign, steps, MODEL_NAME, first.start, current.end
    )
    by_week: dict[tuple[str, datetime, datetime], list[StoredTheme]] = {}
    for theme in stored:
        by_week.setdefault((theme.step_id, theme.start, theme.end), []).append(theme)
    people = await tx.theme_history.label_people([s.id for s in stored if s.label])
    out: dict[str, list[_Week]] = {}
    for step in steps:
        if (
            step not in facts.week_groups
            and not any(key[0] == step for key in by_week)
            and await tx.vectors.count_vectors(
                campaign, step, MODEL_NAME, first.start, current.start
            )
            < MIN_VECTORS
        ):
            continue  # nothing by meaning in any of the weeks: no history to show
        weeks = []
        for period in periods:
            week = _Week(period, by_week.get((step, period.start, period.end), []))
            if week.kept:
                stale = [
                    s for s in week.kept if s.stale or (s.label and people[s.id] < LABEL_PEOPLE)
                ]
                if stale:
                    rows = await _rows(tx, campaign, step, period)
                    labels = await asyncio.to_thread(
                        relabel_week, rows, [s.centroid for s in week.kept], language
                    )
                    week.relabelled = {
                        s.id: label for s, label in zip(week.kept, labels, strict=True)
                    }
            elif period is current:
                week.group = facts.week_groups.get(step)
            elif period.end <= now and (
                await tx.vectors.count_vectors(campaign, step, MODEL_NAME, period.start, period.end)
                >= MIN_VECTORS
            ):
                rows = await _rows(tx, campaign, step, period)
                week.group = await asyncio.to_thread(
                    group_week, rows, language, period.start, period.end
                )
            weeks.append(week)
        out[step] = weeks
    return out


async def _rows(tx: Transaction, campaign: int, step: str, period: Period) -> list[StoredVector]:
    return await tx.vectors.step_vectors(
        campaign, step, MODEL_NAME, since=period.start, until=period.end
    )


def _carry(found: dict[str, list[_Week]]) -> None:
    """Each week's themes with their identity, oldest first; a week without themes leaves the
    last one's to go on from."""
    fresh = itertools.count(-1, -1)
    for weeks in found.values():
        last: tuple[HistoryTheme, ...] = ()
        for week in weeks:
            if week.kept:
                week.themes = tuple(
                    HistoryTheme(
                        s.identity,
                        week.relabelled.get(s.id, (s.label, ()))[0],
                        s.count,
                        s.people,
                        tuple(float(x) for x in dequantise([s.centroid])[0]),
                        s.parents,
                        s.id,
                    )
                    for s in week.kept
                )
            elif week.group is not None:
                week.themes = carry(last, week.group.themes, lambda: next(fresh))
            if week.themes:
                last = week.themes


async def _keep(
    store: Database, campaign: int, found: dict[str, list[_Week]], now: datetime
) -> None:
    writes = [
        (step, week)
        for step, weeks in found.items()
        for week in weeks
        if week.relabelled
        or (week.group is not None and week.group.complete and week.period.end <= now)
    ]
    if not writes:
        return
    async with store.transaction() as tx:
        real: dict[int, int] = {}  # an identity not kept yet → its first kept row
        given_up: set[str] = set()
        for step, week in writes:
            for theme_id, (label, holders) in week.relabelled.items():
                await tx.theme_history.relabel(theme_id, label, holders)
            if week.group is None or step in given_up:
                continue
            kept = await tx.theme_history.keep_week(
                campaign,
                step,
                MODEL_NAME,
                week.period.start,
                week.period.end,
                [
                    KeptTheme(
                        label=g.label,
                        count=g.count,
                        people=len(g.people),
                        centroid=quantise(np.asarray(g.centroid, dtype=np.float32)),
                        holders=g.holders,
                        identity=h.identity if h.identity > 0 else real.get(h.identity),
                        parents=tuple(
                            p if p > 0 else real[p] for p in h.parents if p > 0 or p in real
                        ),
                    )
                    for g, h in zip(week.group.themes, week.themes, strict=True)
                ],
                now,
            )
            if kept is None:
                # Kept by another process meanwhile: its identities stand; this step's later
                # weeks are kept by the next digest, carried from those.
                given_up.add(step)
                continue
            for h, row in zip(week.themes, kept, strict=True):
                if h.identity < 0:
                    real.setdefault(h.identity, row.identity)


def _as_week(themes: Sequence[HistoryTheme]) -> list[WeekTheme]:
    return [WeekTheme(t.label, t.count, t.centroid, t.people) for t in themes]


def _shown(
    found: Sequence[Trend], before: Sequence[HistoryTheme], minimum: int
) -> tuple[Trend, ...]:
    """The trends a public output may show: a named theme of at least ``minimum`` citizens,
    naming only such themes of last week."""
    named = {t.label for t in before if t.label and t.people >= minimum}
    out = []
    for trend in found:
        if not trend.label or trend.people < minimum:
            continue
        split = trend.split_from if trend.split_from in named else None
        merged = tuple(label for label in trend.merged_from if label in named)
        out.append(dataclasses.replace(trend, merged_from=merged, split_from=split))
    return tuple(out)


def _links(facts: CampaignFacts, language: str) -> tuple[LinkBlock, ...]:
    """The period's links between sections, in words: who gave which named theme on each side
    (of the sections this digest shows)."""
    flow = facts.flow
    if not flow.links or not facts.week_groups:
        return ()
    minimum = facts.enough

    def shows(step: str) -> bool:
        return facts.respondents >= minimum and facts.step_respondents.get(step, 0) >= minimum

    themes_of: dict[str, dict[str, set[str]]] = {}
    for step, group in facts.week_groups.items():
        mine: dict[str, set[str]] = {}
        for theme in group.themes:
            if theme.label:
                for person in theme.people:
                    mine.setdefault(person, set()).add(theme.label)
        themes_of[step] = mine
    lang = language if language in flow.languages else flow.default_language
    out = []
    for link in step_links(themes_of, flow.links, minimum, shows):
        lines = link_lines(link, lang)
        if lines:
            out.append(LinkBlock(heading(flow, link, lang), tuple(lines)))
    return tuple(out)
