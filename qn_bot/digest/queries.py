"""The digest's reads, counted by the database: a campaign of a million items is never loaded.

Two passes over the campaign's items, whatever its size:

1. :func:`step_week_counts`: live items per step and per elementary interval between the
   boundaries of every period the digest mentions (the period, the one before, the chart's
   weeks), plus the latest ``updated_at`` — one grouped query, a few hundred rows back.
2. :func:`period_facts`: the period's new items streamed in partitions (step, text, author,
   creation instant, id); each partition is folded, in a worker thread so the event loop stays
   free, into the respondents, the newest items of each text step and the theme counters. Only
   the partition in flight and the counters are in memory.

There is no index on ``items.created_at``; on SQLite, when the campaign holds most of the table,
a plain scan beats the ``(campaign_id, step_id)`` index (one random page read per item), so the
campaign filter is then written so that SQLite does not use that index. PostgreSQL keeps its
planner's choice (it has statistics).
"""

from __future__ import annotations

import asyncio
import heapq
import queue
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, exists, func, select, type_coerce

from qn_bot.digest.model import (
    CampaignFacts,
    KeyCache,
    SessionFact,
    Theme,
    ThemeCounter,
    text_steps,
)
from qn_bot.digest.period import Period
from qn_bot.flows.format import Flow
from qn_bot.store import schema as t
from qn_bot.store.records import CampaignRecord, ItemRecord
from qn_bot.store.sql import Tx, item_records, item_select

#: Rows per streamed partition of the period's items.
PARTITION = 10_000
#: Partitions read ahead of the folding thread, at most.
QUEUED_PARTITIONS = 4
#: SQLite scans the whole table rather than use the campaign index above this share of it.
SCAN_SHARE = 1 / 8


async def _campaign_filter(tx: Tx, campaign_id: int) -> ColumnElement[bool]:
    items = t.items.c
    if tx.conn.dialect.name != "sqlite":
        return items.campaign_id == campaign_id
    mine = (
        await tx.conn.execute(select(func.count()).where(items.campaign_id == campaign_id))
    ).scalar_one()
    top = (await tx.conn.execute(select(func.max(items.id)))).scalar_one() or 0
    if mine > top * SCAN_SHARE:
        # "campaign_id + 0" is no longer a column: SQLite reads the table in order instead of
        # jumping from the index to each row.
        return (items.campaign_id + 0) == campaign_id
    return items.campaign_id == campaign_id


async def campaign_sessions(tx: Tx, campaign_id: int) -> list[SessionFact]:
    s = t.sessions
    rows = await tx.conn.execute(
        select(s.c.participant_id, s.c.created_at, s.c.completed_at).where(
            s.c.campaign_id == campaign_id
        )
    )
    return [SessionFact(r.participant_id, r.created_at, r.completed_at) for r in rows.all()]


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


async def step_week_counts(
    tx: Tx, campaign_id: int, periods: Sequence[Period], where: ColumnElement[bool] | None = None
) -> StepCounts:
    items = t.items.c
    bounds = tuple(sorted({p.start for p in periods} | {p.end for p in periods}))
    # Interval k is [bounds[k], bounds[k+1]); -1 before the first boundary, the last index after
    # the last one. Tested newest first: recent items, the many, leave the CASE early.
    interval = case(
        *((items.created_at >= b, k) for k, b in reversed(list(enumerate(bounds)))), else_=-1
    )
    if where is None:
        where = await _campaign_filter(tx, campaign_id)
    rows = select(items.step_id, interval.label("k"), items.updated_at.label("updated_at")).where(
        where, items.deleted_at.is_(None)
    )
    sub = rows.subquery()
    stmt = select(sub.c.step_id, sub.c.k, func.count(), func.max(sub.c.updated_at)).group_by(
        sub.c.step_id, sub.c.k
    )
    counts: dict[tuple[str, int], int] = {}
    per_step: dict[str, int] = {}
    latest: datetime | None = None
    for step_id, k, n, updated in (await tx.conn.execute(stmt)).all():
        counts[(step_id, k)] = n
        per_step[step_id] = per_step.get(step_id, 0) + n
        if updated is not None:
            latest = updated if latest is None or updated > latest else latest
    return StepCounts(bounds, counts, sum(counts.values()), per_step, latest)


# Columns of a streamed row: step_id, text, participant_id, created (as stored), id.
_STEP, _TEXT, _AUTHOR = itemgetter(0), itemgetter(1), itemgetter(2)
_ENTRY = itemgetter(3, 4, 1)  # (created, id, text): the newest sorts last


class _PeriodFold:
    """Folds partitions of the period's items; runs in a worker thread, one partition at a time."""

    def __init__(self, steps: Sequence[str], language: str, cap: int) -> None:
        self.cap = cap
        self.respondents: set[int] = set()
        keys = KeyCache(language)
        self.counters = {step_id: ThemeCounter(language, keys) for step_id in steps}
        # Per text step, a min-heap of the newest (created, id, text) seen so far.
        self.heaps: dict[str, list[tuple[Any, int, str]]] = {step_id: [] for step_id in steps}

    def add(self, rows: Sequence[Any]) -> None:
        self.respondents.update(map(_AUTHOR, rows))
        # Grouped by step with C-level sort and groupby: no Python work per row.
        for step_id, group in groupby(sorted(rows, key=_STEP), key=_STEP):
            counter = self.counters.get(step_id)
            if counter is None:
                continue  # a choice or number answer: counted, no text to show
            step_rows = list(group)
            counter.add_many(map(_TEXT, step_rows))
            latest = heapq.nlargest(self.cap, map(_ENTRY, step_rows))
            heap = self.heaps[step_id]
            for entry in latest:
                if len(heap) < self.cap:
                    heapq.heappush(heap, entry)
                elif entry > heap[0]:
                    heapq.heapreplace(heap, entry)

    def consume(self, pending: queue.Queue[Sequence[Any] | None]) -> dict[str, tuple[Theme, ...]]:
        """Fold partitions until ``None``; then the themes."""
        while (rows := pending.get()) is not None:
            self.add(rows)
        return self.themes()

    def newest(self) -> dict[str, tuple[str, ...]]:
        return {
            step_id: tuple(text for _, _, text in sorted(heap, reverse=True))
            for step_id, heap in self.heaps.items()
        }

    def themes(self) -> dict[str, tuple[Theme, ...]]:
        return {step_id: counter.result() for step_id, counter in self.counters.items()}


async def period_facts(
    tx: Tx,
    campaign: CampaignRecord,
    flow: Flow,
    period: Period,
    previous: Period,
    language: str,
    *,
    cap: int,
    chart_periods: Sequence[Period] = (),
    while_folding: Callable[[StepCounts], Awaitable[None]] | None = None,
) -> tuple[CampaignFacts, StepCounts]:
    """The facts of ``campaign`` for ``period``, counted in SQL and streamed.

    ``while_folding`` is given the counts and awaited before the fold is: more reads that the
    worker thread's folding need not wait for.
    """
    items = t.items.c
    where = await _campaign_filter(tx, campaign.id)
    fold = _PeriodFold([step.id for step in text_steps(flow)], language, cap)
    # The creation instant only orders items: read as stored (SQLite's fixed-width text sorts
    # like the instants; PostgreSQL hands out datetimes), not converted row by row.
    stmt = select(
        items.step_id,
        items.text,
        items.participant_id,
        type_coerce(items.created_at, String),
        items.id,
    ).where(
        where,
        items.deleted_at.is_(None),
        items.created_at >= period.start,
        items.created_at < period.end,
    )
    # A worker thread folds the partitions while the stream goes on, and then while the
    # database counts (SQLite and the network drivers wait without holding the GIL): on two
    # cores the counting query is nearly free. The queue is bounded: memory stays a few
    # partitions whatever the period's size.
    pending: queue.Queue[Sequence[Any] | None] = queue.Queue(maxsize=QUEUED_PARTITIONS)
    folding = asyncio.ensure_future(asyncio.to_thread(fold.consume, pending))
    try:
        result = await tx.conn.stream(stmt)
        async for partition in result.partitions(PARTITION):
            if pending.full():
                await asyncio.to_thread(pending.put, partition)
            else:
                pending.put_nowait(partition)
    finally:
        await asyncio.to_thread(pending.put, None)
    try:
        counts = await step_week_counts(tx, campaign.id, [period, previous, *chart_periods], where)
        sessions = await campaign_sessions(tx, campaign.id)
        if while_folding is not None:
            await while_folding(counts)
    finally:
        found = await folding
    facts = CampaignFacts(
        campaign=campaign,
        flow=flow,
        sessions=sessions,
        total_items=counts.total,
        new_per_step=counts.per_step(period),
        previous_new_items=sum(counts.per_step(previous).values()),
        respondents=len(fold.respondents),
        newest=fold.newest(),
        themes=found,
        weeks=tuple(counts.per_step(week) for week in chart_periods),
    )
    return facts, counts


# --- for a capped synthesis attachment ------------------------------------------------------------


async def latest_items(tx: Tx, campaign_id: int, step_id: str, limit: int) -> list[ItemRecord]:
    """The ``limit`` last live items of a step (by id: insertion order), in answer order."""
    items = t.items.c
    stmt = (
        item_select()
        .where(items.campaign_id == campaign_id, items.step_id == step_id)
        .where(items.deleted_at.is_(None))
        .order_by(items.id.desc())
        .limit(limit)
    )
    found = item_records((await tx.conn.execute(stmt)).all())
    found.sort(key=lambda i: (i.created_at, i.id))
    return found


async def step_items(tx: Tx, campaign_id: int, step_ids: Sequence[str]) -> list[ItemRecord]:
    """Every live item of the given steps, in answer order."""
    if not step_ids:
        return []
    items = t.items.c
    stmt = (
        item_select()
        .where(items.campaign_id == campaign_id, items.step_id.in_(step_ids))
        .where(items.deleted_at.is_(None))
        .order_by(items.created_at, items.id)
    )
    return item_records((await tx.conn.execute(stmt)).all())


async def contributors(tx: Tx, campaign_id: int) -> int:
    """Participants with at least one live item (one session per participant and campaign)."""
    s, items = t.sessions.c, t.items.c
    has_item = exists().where(and_(items.session_id == s.id, items.deleted_at.is_(None)))
    stmt = select(func.count()).where(s.campaign_id == campaign_id, has_item)
    return int((await tx.conn.execute(stmt)).scalar_one())
