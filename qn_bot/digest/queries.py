"""The digest's reads, counted by the database: a campaign of a million items is never loaded.

Two passes over the campaign's items, whatever its size:

1. :func:`step_week_counts`: live items per step and per elementary interval between the
   boundaries of every period the digest mentions (the period, the one before, the chart's
   weeks), plus the latest ``updated_at`` — on SQLite a count per (step, interval) read from
   ranges of the covering index ``ix_items_campaign_step_live``, on PostgreSQL one grouped
   query; a few hundred numbers back in all.
2. :func:`period_facts`: the period's new items streamed in partitions (step, text, author,
   creation instant, id); each partition is folded (:mod:`qn_bot.digest.fold`: in a process of
   its own for a big campaign, else in a worker thread so the event loop stays free) into the
   respondents, the newest items of each text step and the theme counters, while the
   connection runs the count of 1. Only a few partitions and the counters are in memory.

Besides, a few small reads: the campaign's participants and each text section's respondents of
the period (:mod:`qn_bot.participants`: a bounded window of rows per step, whatever the size).

The stream of 2. needs the texts, which only the table holds, and there is no index on
``items.created_at`` alone; on SQLite, when the campaign holds most of the table, a plain scan
beats the campaign index (one random page read per item), so the campaign filter of the stream
is then written so that SQLite does not use that index. PostgreSQL keeps its planner's choice
(it has statistics).
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Select,
    String,
    case,
    func,
    select,
    type_coerce,
)

from qn_bot.digest.fold import FoldError, FoldProcess, FoldResult, PeriodFold
from qn_bot.digest.model import CampaignFacts, text_steps
from qn_bot.digest.period import Period
from qn_bot.flows.format import Flow
from qn_bot.participants import (
    Participation,
    asks_consent,
    campaign_participants,
    section_respondents,
)
from qn_bot.records import CampaignRecord, ItemRecord
from qn_bot.repositories import Transaction
from qn_bot.store import schema as t
from qn_bot.store.repository import connection_of
from qn_bot.store.rows import item_records, item_select

log = logging.getLogger(__name__)

#: Rows per streamed partition of the period's items.
PARTITION = 10_000
#: SQLite scans the whole table rather than use the campaign index above this share of it.
SCAN_SHARE = 1 / 8
#: From this many items in the campaign, the period's items are folded in a process of their own.
FOLD_PROCESS_MIN_ITEMS = 100_000
#: (step, interval) counts per statement of the count on SQLite (SQLite allows 500 terms).
MAX_TERMS = 200


@dataclass(frozen=True, slots=True)
class _Scope:
    """How a campaign's items are streamed: the filter, and how many there are."""

    where: ColumnElement[bool]
    items: int  # the campaign's items, deleted ones included


async def _campaign_scope(tx: Transaction, campaign_id: int) -> _Scope:
    items = t.items.c
    mine = (
        await connection_of(tx).execute(
            select(func.count()).where(items.campaign_id == campaign_id)
        )
    ).scalar_one()
    if connection_of(tx).dialect.name != "sqlite":
        return _Scope(items.campaign_id == campaign_id, mine)
    top = (await connection_of(tx).execute(select(func.max(items.id)))).scalar_one() or 0
    if mine <= top * SCAN_SHARE:
        return _Scope(items.campaign_id == campaign_id, mine)
    # "campaign_id + 0" is no longer a column: SQLite reads the table in order instead of
    # jumping from the index to each row.
    return _Scope((items.campaign_id + 0) == campaign_id, mine)


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


_FIELD, _RECORD = "\x1f", "\x1e"  # ASCII unit and record separators (char(31), char(30))
# Live items of one step of a campaign, and their latest update: a range of the covering index
# ix_items_campaign_step_live. Parameters: step_id and k (echoed back), campaign_id, step_id.
_RANGE = (
    "SELECT ? AS step_id, ? AS k, count(*) AS n, max(updated_at) AS u FROM items"
    " WHERE campaign_id = ? AND step_id = ? AND deleted_at IS NULL"
)
# The non-empty ranges of a UNION ALL of _RANGE, as one row: text and the latest update.
_GROUPS = (
    "SELECT group_concat(step_id || char(31) || k || char(31) || n, char(30)), max(u)"
    " FROM ({}) WHERE n > 0"
)


class _IntervalCount:
    """The count of :func:`step_week_counts`.

    PostgreSQL groups the campaign's rows by step and interval in one statement (a hash
    aggregate). SQLite has no hash aggregate: grouping sorts every row (0.9 s for 1M items). But
    the index ``ix_items_campaign_step_live (campaign_id, step_id, deleted_at, created_at,
    updated_at)`` holds every column the count reads, in the order it needs, so there SQLite
    counts each (step, interval) as a range of that index — no table page, no sort (0.2 s).
    """

    def __init__(self, periods: Sequence[Period], campaign_id: int) -> None:
        self.bounds = tuple(sorted({p.start for p in periods} | {p.end for p in periods}))
        self.campaign_id = campaign_id
        self.counts: dict[tuple[str, int], int] = {}
        self.latest: datetime | None = None

    def _grouped(self) -> Select[Any]:
        items = t.items.c
        # Interval k is [bounds[k], bounds[k+1]); -1 before the first boundary, the last index
        # after the last one. Tested newest first: recent items, the many, leave the CASE early.
        interval = case(
            *((items.created_at >= b, k) for k, b in reversed(list(enumerate(self.bounds)))),
            else_=-1,
        )
        rows = select(
            items.step_id, interval.label("k"), items.updated_at.label("updated_at")
        ).where(items.campaign_id == self.campaign_id, items.deleted_at.is_(None))
        sub = rows.subquery()
        return select(
            sub.c.step_id,
            sub.c.k,
            func.count().label("n"),
            func.max(sub.c.updated_at).label("updated_at"),
        ).group_by(sub.c.step_id, sub.c.k)

    def _steps(self) -> Select[Any]:
        """The campaign's steps, one index seek each (a loose index scan), as one row of text."""
        items = t.items.c
        mine = items.campaign_id == self.campaign_id
        found = select(func.min(items.step_id).label("step_id")).where(mine).cte(recursive=True)
        following = select(func.min(items.step_id)).where(mine, items.step_id > found.c.step_id)
        found = found.union_all(
            select(following.scalar_subquery()).where(found.c.step_id.is_not(None))
        )
        return select(func.group_concat(found.c.step_id, _RECORD))

    def _ranges(self, steps: Sequence[str], dialect: Dialect) -> list[tuple[str, list[Any]]]:
        """SQLite's statements, as SQL text and parameters.

        Written by hand: a hundred-odd terms built, compiled and keyed by SQLAlchemy held the
        interpreter for 0.07-0.15 s (the SQLite work itself is 0.16 s for 1M items).
        """
        # The dialect's own type: it writes instants as stored (fixed-width text).
        convert = t.items.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)

        def stored(value: datetime) -> Any:
            return value if convert is None else convert(value)

        edges: tuple[datetime | None, ...] = (None, *self.bounds, None)
        terms: list[tuple[str, list[Any]]] = []
        for step_id in steps:
            for k in range(-1, len(self.bounds)):
                low, high = edges[k + 1], edges[k + 2]
                sql, params = _RANGE, [step_id, k, self.campaign_id, step_id]
                if low is not None:
                    sql, params = sql + " AND created_at >= ?", [*params, stored(low)]
                if high is not None:
                    sql, params = sql + " AND created_at < ?", [*params, stored(high)]
                terms.append((sql, params))
        statements = []
        for first in range(0, len(terms), MAX_TERMS):
            # One row of text back per statement: SQLite's driver takes the GIL back for each
            # row, and while the interpreter is busy elsewhere (the chart's import) each such
            # wait can last a switch interval.
            chunk = terms[first : first + MAX_TERMS]
            union = " UNION ALL ".join(sql for sql, _ in chunk)
            values = [value for _, params in chunk for value in params]
            statements.append((_GROUPS.format(union), values))
        return statements

    async def run(self, tx: Transaction) -> None:
        dialect = connection_of(tx).dialect
        if dialect.name != "sqlite":
            self._add((await connection_of(tx).execute(self._grouped())).all())
            return
        text = (await connection_of(tx).execute(self._steps())).scalar_one()
        steps = text.split(_RECORD) if text is not None else []
        instant = t.items.c.updated_at.type.dialect_impl(dialect).result_processor(dialect, None)
        for sql, params in self._ranges(steps, dialect):
            found = []
            row: Sequence[Any] = (await connection_of(tx).exec_driver_sql(sql, tuple(params))).one()
            text, updated = row
            if updated is not None and instant is not None:
                updated = instant(updated)
            for record in text.split(_RECORD) if text is not None else ():
                step_id, k, n = record.rsplit(_FIELD, 2)
                found.append((step_id, int(k), int(n), updated))
            self._add(found)

    def _add(self, found: Sequence[Any]) -> None:
        for step_id, k, n, updated in found:
            self.counts[(step_id, k)] = self.counts.get((step_id, k), 0) + n
            if updated is not None and (self.latest is None or updated > self.latest):
                self.latest = updated

    def result(self) -> StepCounts:
        per_step: dict[str, int] = {}
        for (step_id, _), n in self.counts.items():
            per_step[step_id] = per_step.get(step_id, 0) + n
        return StepCounts(
            self.bounds, dict(self.counts), sum(self.counts.values()), per_step, self.latest
        )


async def step_week_counts(
    tx: Transaction, campaign_id: int, periods: Sequence[Period]
) -> StepCounts:
    """Live items of a campaign per step and per interval between the periods' boundaries."""
    counter = _IntervalCount(periods, campaign_id)
    await counter.run(tx)
    return counter.result()


async def _partitions(
    tx: Transaction, stmt: Select[Any]
) -> AsyncGenerator[Sequence[tuple[Any, ...]], None]:
    """The rows of ``stmt`` in partitions of :data:`PARTITION` plain tuples.

    On SQLite and on PostgreSQL through asyncpg they come straight from the driver's cursor, in
    the transaction under way (the snapshot's first statement has begun it): the columns read
    here need no conversion, and SQLAlchemy's rows cost 0.2 s of CPU more for a week of 170,000
    contributions. Parameters still go through their types (instants).
    """
    dialect = connection_of(tx).dialect
    if dialect.name != "sqlite" and dialect.driver != "asyncpg":
        result = await connection_of(tx).stream(stmt)
        async for partition in result.partitions(PARTITION):
            yield [tuple(row) for row in partition]
        return
    compiled = stmt.compile(dialect=dialect)
    values = compiled.construct_params()
    params = []
    for name in compiled.positiontup or ():
        convert = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        params.append(values[name] if convert is None else convert(values[name]))
    driver = (await connection_of(tx).get_raw_connection()).driver_connection
    assert driver is not None
    if dialect.name != "sqlite":  # asyncpg: a server-side cursor, as SQLAlchemy's stream
        pages = await driver.cursor(str(compiled), *params)
        while records := await pages.fetch(PARTITION):
            yield list(map(tuple, records))
        return
    cursor = await driver.execute(str(compiled), params)
    try:
        while rows := await cursor.fetchmany(PARTITION):
            yield rows
    finally:
        await cursor.close()


async def _fold_process(steps: Sequence[str], language: str, cap: int) -> FoldProcess | None:
    try:
        return await FoldProcess.start(steps, language, cap)
    except OSError:
        log.warning("digest: cannot start a fold process; folding here", exc_info=True)
        return None


async def _fold_in_thread(
    tx: Transaction, stmt: Select[Any], fold: PeriodFold
) -> asyncio.Future[FoldResult]:
    """Stream the rows to ``fold`` in a worker thread; the future ends with the fold.

    Reading rows takes the GIL row by row (SQLite's driver lets it go around each step) and the
    fold holds it: done at the same time, each waits for the other's switch interval over and
    over (measured: 2.4 s for what takes 2.1 s in turns). So a partition is read once the fold
    is done with the last one: memory stays one partition or two.
    """
    pending: queue.Queue[Sequence[Any] | None] = queue.Queue()
    folding = asyncio.ensure_future(asyncio.to_thread(fold.consume, pending))
    try:
        async with aclosing(_partitions(tx, stmt)) as partitions:
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
    items = t.items.c
    scope = await _campaign_scope(tx, campaign.id)
    counter = _IntervalCount([period, previous, *chart_periods], campaign.id)
    steps = [step.id for step in text_steps(flow)]
    # The creation instant only orders items: read as stored (SQLite's fixed-width text sorts
    # like the instants; PostgreSQL hands out datetimes), not converted row by row.
    where = (
        scope.where,
        items.deleted_at.is_(None),
        items.created_at >= period.start,
        items.created_at < period.end,
    )
    stmt = select(
        items.step_id,
        items.text,
        items.participant_id,
        type_coerce(items.created_at, String),
        items.id,
    ).where(*where)
    fold_here = PeriodFold(steps, language, cap)
    process = (
        await _fold_process(steps, language, cap) if scope.items >= FOLD_PROCESS_MIN_ITEMS else None
    )
    folding: asyncio.Future[FoldResult] | None = None
    beside: asyncio.Future[object] | None = None
    try:
        if process is not None:
            # The process folds while this one reads: the pipe holds what it has not read yet
            # (up to FoldProcess.BUFFER), so the reading is done soon and the count can start.
            try:
                async with aclosing(_partitions(tx, stmt)) as partitions:
                    async for partition in partitions:
                        await process.add(partition)
            except FoldError:
                log.warning("digest: the fold process failed; folding here", exc_info=True)
                await process.close()
                process = None
        if process is None:
            folding = await _fold_in_thread(tx, stmt, fold_here)
        # Then the count (SQLite and the network drivers count without holding the GIL), while
        # the fold goes on; the interpreter is free for ``while_counting`` meanwhile.
        beside = asyncio.ensure_future(
            asyncio.to_thread(while_counting) if while_counting is not None else asyncio.sleep(0)
        )
        await counter.run(tx)
        counts = counter.result()
        people = await campaign_participants(tx, campaign, flow)
        step_respondents = await section_respondents(
            tx,
            campaign.id,
            text_steps(flow),
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
                folding = await _fold_in_thread(tx, stmt, fold_here)
        if folding is not None:
            respondents, newest, found_themes = await folding
        await beside
    finally:
        if process is not None:
            await process.close()
        for pending in (folding, beside):
            if pending is not None and not pending.done():
                await asyncio.wait([pending])
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
        weeks=tuple(counts.per_step(week) for week in chart_periods),
    )
    return facts, counts


# --- for a capped synthesis attachment ------------------------------------------------------------


async def latest_items(
    tx: Transaction, campaign_id: int, step_id: str, limit: int
) -> list[ItemRecord]:
    """The ``limit`` last live items of a step (by id: insertion order), in answer order."""
    items = t.items.c
    # The ids alone first: the campaign index covers the filter, so only ``limit`` rows of the
    # table are read (the index is ordered by creation, not id: SQLite sorts what it selects).
    latest = (
        select(items.id)
        .where(items.campaign_id == campaign_id, items.step_id == step_id)
        .where(items.deleted_at.is_(None))
        .order_by(items.id.desc())
        .limit(limit)
    )
    stmt = item_select().where(items.id.in_(latest.scalar_subquery()))
    found = item_records((await connection_of(tx).execute(stmt)).all())
    found.sort(key=lambda i: (i.created_at, i.id))
    return found


async def step_items(
    tx: Transaction, campaign_id: int, step_ids: Sequence[str]
) -> list[ItemRecord]:
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
    return item_records((await connection_of(tx).execute(stmt)).all())
