"""The digest's facts, counted by the database: a campaign of a million items is never loaded.

Two passes over the campaign's items, whatever its size, both read through
:class:`qn_bot.repositories.DigestReads` (the SQL, and why it is written so, is in
qn_bot/store/digest_reads.py):

1. :func:`step_week_counts`: live items per step and per elementary interval between the
   boundaries of every period the digest mentions (the period, the one before, the chart's
   weeks), plus the latest ``updated_at``; a few hundred numbers back in all.
2. :func:`period_facts`: the period's new items streamed in partitions (step, text, author,
   creation instant, id); each partition is folded (:mod:`qn_bot.digest.fold`: in a process of
   its own for a big campaign, else in a worker thread so the event loop stays free) into the
   respondents, the newest items of each text step and the theme counters, while the
   connection runs the count of 1. Only a few partitions and the counters are in memory.

Besides, a few small reads: the campaign's participants and each text section's respondents of
the period (:mod:`qn_bot.participants`: a bounded window of rows per step, whatever the size).
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qn_bot.digest.fold import FoldError, FoldProcess, FoldResult, PeriodFold
from qn_bot.digest.model import CampaignFacts
from qn_bot.digest.period import Period
from qn_bot.flows.format import Flow
from qn_bot.flows.kinds import KINDS
from qn_bot.participants import (
    Participation,
    asks_consent,
    campaign_participants,
    section_respondents,
)
from qn_bot.records import CampaignRecord, IntervalCounts
from qn_bot.repositories import PeriodItems, Transaction

log = logging.getLogger(__name__)

#: From this many items in the campaign, the period's items are folded in a process of their own.
FOLD_PROCESS_MIN_ITEMS = 100_000


@dataclass(frozen=True, slots=True)
class StepCounts:
    """Live items of a campaign per step, for any period bounded by the given boundaries."""

    boundaries: tuple[datetime, ...]  # sorted
    counts: Mapping[tuple[str, int], int]  # (step, k) → items in [boundaries[k], boundaries[k+1])
    total: int  # every live item, inside the boundaries or not
    total_per_step: Mapping[str, int]
    updated_at: datetime | None  # the latest update of a live item

    def per_step(self, period: Period) -> dict[str, int]:
        first = self.boundaries.index(period.start)
        last = self.boundaries.index(period.end)
        out: dict[str, int] = {}
        for (step_id, k), n in self.counts.items():
            if first <= k < last:
                out[step_id] = out.get(step_id, 0) + n
        return out


def _boundaries(periods: Sequence[Period]) -> tuple[datetime, ...]:
    return tuple(sorted({p.start for p in periods} | {p.end for p in periods}))


def _step_counts(found: IntervalCounts) -> StepCounts:
    per_step: dict[str, int] = {}
    for (step_id, _), n in found.counts.items():
        per_step[step_id] = per_step.get(step_id, 0) + n
    return StepCounts(
        found.boundaries, dict(found.counts), sum(found.counts.values()), per_step, found.updated_at
    )


async def step_week_counts(
    tx: Transaction, campaign_id: int, periods: Sequence[Period]
) -> StepCounts:
    """Live items of a campaign per step and per interval between the periods' boundaries."""
    return _step_counts(await tx.digest.interval_counts(campaign_id, _boundaries(periods)))


async def _fold_process(steps: Sequence[str], language: str, cap: int) -> FoldProcess | None:
    try:
        return await FoldProcess.start(steps, language, cap)
    except OSError:
        log.warning("digest: cannot start a fold process; folding here", exc_info=True)
        return None


async def _fold_in_thread(items: PeriodItems, fold: PeriodFold) -> asyncio.Future[FoldResult]:
    """Stream the rows to ``fold`` in a worker thread; the future ends with the fold.

    Reading rows takes the GIL row by row (SQLite's driver lets it go around each step) and the
    fold holds it: done at the same time, each waits for the other's switch interval over and
    over (measured: 2.4 s for what takes 2.1 s in turns). So a partition is read once the fold
    is done with the last one: memory stays one partition or two.
    """
    pending: queue.Queue[Sequence[Any] | None] = queue.Queue()
    folding = asyncio.ensure_future(asyncio.to_thread(fold.consume, pending))
    try:
        async with aclosing(items.partitions()) as partitions:
            async for partition in partitions:
                if pending.unfinished_tasks:
                    await asyncio.to_thread(pending.join)
                pending.put(partition)
    except BaseException:
        pending.put(None)
        await asyncio.wait([folding])
        raise
    pending.put(None)
    return folding


async def period_facts(
    tx: Transaction,
    campaign: CampaignRecord,
    flow: Flow,
    period: Period,
    previous: Period,
    language: str,
    *,
    cap: int,
    enough: int,
    chart_periods: Sequence[Period] = (),
    while_folding: Callable[[StepCounts, Sequence[Participation]], Awaitable[None]] | None = None,
    while_counting: Callable[[], object] | None = None,
) -> tuple[CampaignFacts, StepCounts]:
    """The facts of ``campaign`` for ``period``, counted in SQL and streamed; ``enough`` is the
    threshold the sections' respondents are counted up to.

    ``while_folding`` is given the counts and the participants, and awaited before the fold is:
    more reads that the
    fold need not wait for. ``while_counting`` is called in a thread while
    the database counts, when the interpreter has little else to do (importing the chart's
    libraries, say).
    """
    items = await tx.digest.period_items(campaign.id, period.start, period.end)
    bounds = _boundaries([period, previous, *chart_periods])
    steps = [step.id for step in KINDS.free_text_steps(flow)]
    fold_here = PeriodFold(steps, language, cap)
    process = (
        await _fold_process(steps, language, cap)
        if items.campaign_items >= FOLD_PROCESS_MIN_ITEMS
        else None
    )
    folding: asyncio.Future[FoldResult] | None = None
    beside: asyncio.Future[object] | None = None
    try:
        if process is not None:
            # The process folds while this one reads: the pipe holds what it has not read yet
            # (up to FoldProcess.BUFFER), so the reading is done soon and the count can start.
            try:
                async with aclosing(items.partitions()) as partitions:
                    async for partition in partitions:
                        await process.add(partition)
            except FoldError:
                log.warning("digest: the fold process failed; folding here", exc_info=True)
                await process.close()
                process = None
        if process is None:
            folding = await _fold_in_thread(items, fold_here)
        # Then the count (SQLite and the network drivers count without holding the GIL), while
        # the fold goes on; the interpreter is free for ``while_counting`` meanwhile.
        beside = asyncio.ensure_future(
            asyncio.to_thread(while_counting) if while_counting is not None else asyncio.sleep(0)
        )
        counts = _step_counts(await tx.digest.interval_counts(campaign.id, bounds))
        people = await campaign_participants(tx, campaign, flow)
        step_respondents = await section_respondents(
            tx,
            campaign.id,
            KINDS.free_text_steps(flow),
            enough=enough,
            consent_required=asks_consent(flow),
            since=period.start,
            until=period.end,
        )
        if while_folding is not None:
            await while_folding(counts, people)
        if process is not None:
            try:
                respondents, newest, found_themes = await process.result()
            except FoldError:
                # Read again (same snapshot) and fold here: a digest late by a second or two
                # rather than none.
                log.warning("digest: the fold process failed; folding here", exc_info=True)
                folding = await _fold_in_thread(items, fold_here)
        if folding is not None:
            respondents, newest, found_themes = await folding
        await beside
    finally:
        if process is not None:
            await process.close()
        for pending in (folding, beside):
            if pending is not None and not pending.done():
                await asyncio.wait([pending])
    # Themes by meaning where the period's items are embedded; the fold's TF-IDF themes else.
    from qn_bot.themes.digest import period_themes

    found_themes, fallbacks, groups = await period_themes(
        tx, campaign.id, steps, period, language, found_themes
    )
    facts = CampaignFacts(
        campaign=campaign,
        flow=flow,
        sessions=people,
        total_items=counts.total,
        new_per_step=counts.per_step(period),
        previous_new_items=sum(counts.per_step(previous).values()),
        respondents=respondents,
        step_respondents=step_respondents,
        enough=enough,
        newest=newest,
        themes=found_themes,
        themes_fallback=fallbacks,
        week_groups=groups,
        weeks=tuple(counts.per_step(week) for week in chart_periods),
    )
    return facts, counts
