"""The digest's reads, counted by the database: a campaign of a million items is never loaded.

:mod:`qn_bot.digest.queries` makes two passes over a campaign's items, whatever its size:

1. :meth:`SqlDigestReads.interval_counts`: live items per step and per elementary interval
   between the boundaries of every period the digest mentions, plus the latest ``updated_at`` —
   on SQLite a count per (step, interval) read from ranges of the covering index
   ``ix_items_campaign_step_live``, on PostgreSQL one grouped query; a few hundred numbers back
   in all.
2. :meth:`SqlDigestReads.period_items`: the period's new items streamed in partitions (step,
   text, author, creation instant, id), which the digest folds.

The stream needs the texts, which only the table holds, and there is no index on
``items.created_at`` alone; on SQLite, when the campaign holds most of the table, a plain scan
beats the campaign index (one random page read per item), so the campaign filter of the stream
is then written so that SQLite does not use that index. PostgreSQL keeps its planner's choice
(it has statistics).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
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
from sqlalchemy.ext.asyncio import AsyncConnection

from qn_bot.records import IntervalCounts, ItemRecord
from qn_bot.store import schema as t
from qn_bot.store.moderation import public_items
from qn_bot.store.repository import Repository
from qn_bot.store.rows import item_records, item_select

#: Rows per streamed partition of the period's items.
PARTITION = 10_000
#: SQLite scans the whole table rather than use the campaign index above this share of it.
SCAN_SHARE = 1 / 8
#: (step, interval) counts per statement of the count on SQLite (SQLite allows 500 terms).
MAX_TERMS = 200


@dataclass(frozen=True, slots=True)
class _Scope:
    """How a campaign's items are streamed: the filter, and how many there are."""

    where: ColumnElement[bool]
    items: int  # the campaign's items, deleted ones included


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
    """The count of :meth:`SqlDigestReads.interval_counts`.

    PostgreSQL groups the campaign's rows by step and interval in one statement (a hash
    aggregate). SQLite has no hash aggregate: grouping sorts every row (0.9 s for 1M items). But
    the index ``ix_items_campaign_step_live (campaign_id, step_id, deleted_at, created_at,
    updated_at)`` holds every column the count reads, in the order it needs, so there SQLite
    counts each (step, interval) as a range of that index — no table page, no sort (0.2 s).
    """

    def __init__(self, boundaries: Sequence[datetime], campaign_id: int) -> None:
        self.bounds = tuple(sorted(set(boundaries)))
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

    async def run(self, conn: AsyncConnection) -> None:
        dialect = conn.dialect
        if dialect.name != "sqlite":
            self._add((await conn.execute(self._grouped())).all())
            return
        text = (await conn.execute(self._steps())).scalar_one()
        steps = text.split(_RECORD) if text is not None else []
        instant = t.items.c.updated_at.type.dialect_impl(dialect).result_processor(dialect, None)
        for sql, params in self._ranges(steps, dialect):
            found = []
            row: Sequence[Any] = (await conn.exec_driver_sql(sql, tuple(params))).one()
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

    def result(self) -> IntervalCounts:
        return IntervalCounts(self.bounds, dict(self.counts), self.latest)


@dataclass(frozen=True, slots=True)
class _PeriodItems:
    """A period's new items of one campaign, to be streamed (once, or again on the same
    snapshot): see :class:`qn_bot.repositories.PeriodItems`."""

    conn: AsyncConnection
    stmt: Select[Any]
    campaign_items: int

    async def partitions(self) -> AsyncGenerator[Sequence[tuple[Any, ...]], None]:
        """The rows in partitions of :data:`PARTITION` plain tuples.

        On SQLite and on PostgreSQL through asyncpg they come straight from the driver's
        cursor, in the transaction under way (the snapshot's first statement has begun it): the
        columns read here need no conversion, and SQLAlchemy's rows cost 0.2 s of CPU more for a
        week of 170,000 contributions. Parameters still go through their types (instants).
        """
        conn, stmt = self.conn, self.stmt
        dialect = conn.dialect
        if dialect.name != "sqlite" and dialect.driver != "asyncpg":
            result = await conn.stream(stmt)
            async for partition in result.partitions(PARTITION):
                yield [tuple(row) for row in partition]
            return
        compiled = stmt.compile(dialect=dialect)
        values = compiled.construct_params()
        params = []
        for name in compiled.positiontup or ():
            convert = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            params.append(values[name] if convert is None else convert(values[name]))
        driver = (await conn.get_raw_connection()).driver_connection
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


class SqlDigestReads(Repository):
    """What a digest and its synthesis attachment read of a campaign's items."""

    __slots__ = ()

    async def _campaign_scope(self, campaign_id: int) -> _Scope:
        items = t.items.c
        mine = (
            await self.conn.execute(select(func.count()).where(items.campaign_id == campaign_id))
        ).scalar_one()
        if self.dialect != "sqlite":
            return _Scope(items.campaign_id == campaign_id, mine)
        top = (await self.conn.execute(select(func.max(items.id)))).scalar_one() or 0
        if mine <= top * SCAN_SHARE:
            return _Scope(items.campaign_id == campaign_id, mine)
        # "campaign_id + 0" is no longer a column: SQLite reads the table in order instead of
        # jumping from the index to each row.
        return _Scope((items.campaign_id + 0) == campaign_id, mine)

    async def interval_counts(
        self, campaign_id: int, boundaries: Sequence[datetime]
    ) -> IntervalCounts:
        """Live items of a campaign per step and per interval between the boundaries."""
        counter = _IntervalCount(boundaries, campaign_id)
        await counter.run(self.conn)
        return counter.result()

    async def period_items(self, campaign_id: int, start: datetime, end: datetime) -> _PeriodItems:
        """The live items of a campaign created in [start, end): step, text, author, creation
        instant and id, streamed."""
        items = t.items.c
        scope = await self._campaign_scope(campaign_id)
        # The creation instant only orders items: read as stored (SQLite's fixed-width text
        # sorts like the instants; PostgreSQL hands out datetimes), not converted row by row.
        where = (
            scope.where,
            items.deleted_at.is_(None),
            items.created_at >= start,
            items.created_at < end,
            await public_items(self.conn, campaign_id),
        )
        stmt = select(
            items.step_id,
            items.text,
            items.participant_id,
            type_coerce(items.created_at, String),
            items.id,
        ).where(*where)
        return _PeriodItems(self.conn, stmt, scope.items)

    # --- for a capped synthesis attachment ------------------------------------------------------

    async def latest_items(self, campaign_id: int, step_id: str, limit: int) -> list[ItemRecord]:
        """The ``limit`` last live items of a step (by id: insertion order), in answer order."""
        items = t.items.c
        # The ids alone first: the campaign index covers the filter, so only ``limit`` rows of
        # the table are read (the index is ordered by creation, not id: SQLite sorts what it
        # selects).
        latest = (
            select(items.id)
            .where(items.campaign_id == campaign_id, items.step_id == step_id)
            .where(items.deleted_at.is_(None), await public_items(self.conn, campaign_id))
            .order_by(items.id.desc())
            .limit(limit)
        )
        stmt = item_select().where(items.id.in_(latest.scalar_subquery()))
        found = item_records((await self.conn.execute(stmt)).all())
        found.sort(key=lambda i: (i.created_at, i.id))
        return found

    async def step_items(self, campaign_id: int, step_ids: Sequence[str]) -> list[ItemRecord]:
        """Every live item of the given steps, in answer order."""
        if not step_ids:
            return []
        items = t.items.c
        stmt = (
            item_select()
            .where(items.campaign_id == campaign_id, items.step_id.in_(step_ids))
            .where(items.deleted_at.is_(None), await public_items(self.conn, campaign_id))
            .order_by(items.created_at, items.id)
        )
        return item_records((await self.conn.execute(stmt)).all())
