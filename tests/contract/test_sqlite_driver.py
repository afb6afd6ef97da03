"""The SQLite driver layer (store/sqlite_driver.py): one thread hand-over per statement, and
everything SQLAlchemy reads from a cursor still right."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
import sqlalchemy.exc
from sqlalchemy import text

from qn_bot.store.database import create_engine
from qn_bot.store.sql import Store


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(create_engine(f"sqlite:///{tmp_path / 'driver.db'}"))
    async with store.transaction() as tx:
        await tx.conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield store
    await store.close()


async def test_one_thread_hand_over_per_statement(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: object, *args: object) -> object:
        nonlocal calls
        calls += 1
        return await original(self, fn, *args)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    async with sqlite_store.transaction() as tx:
        calls = 0
        await tx.conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert calls == 1
        rows = (await tx.conn.execute(text("SELECT id, v FROM t"))).all()
        assert calls == 2
    assert [tuple(r) for r in rows] == [(1, "a")]


async def test_rows_counts_ids_and_errors(sqlite_store: Store) -> None:
    async with sqlite_store.transaction() as tx:
        inserted = await tx.conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await tx.conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
        updated = await tx.conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        result = await tx.conn.execute(text("SELECT v FROM t ORDER BY id"))
        assert result.keys() == ["v"]
        assert result.scalars().all() == ["a", "b!", "c!"]
        assert (await tx.conn.execute(text("SELECT v FROM t WHERE id = 9"))).first() is None

    async def duplicate() -> None:
        async with sqlite_store.transaction() as tx:
            await tx.conn.execute(text("INSERT INTO t (v) VALUES ('z')"))
            await tx.conn.execute(text("INSERT INTO t (v) VALUES ('a')"))

    with pytest.raises(sqlalchemy.exc.IntegrityError):
        await duplicate()
    async with sqlite_store.transaction() as tx:  # rolled back, and the connection still works
        count = (await tx.conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
    assert count == 3


async def test_streamed_reads_keep_working(sqlite_store: Store) -> None:
    async with sqlite_store.transaction() as tx:
        await tx.conn.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": f"v{n}"} for n in range(250)]
        )
    async with sqlite_store.snapshot() as tx:
        stream = await tx.conn.stream(text("SELECT v FROM t ORDER BY id"))
        seen = [row.v async for row in stream]
    assert seen == [f"v{n}" for n in range(250)]
