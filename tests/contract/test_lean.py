"""LeanStatement writes what the same statement written with SQLAlchemy Core writes."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from sqlalchemy import bindparam, insert, select, update

from qn_bot.store import schema as t
from qn_bot.store.lean import LeanStatement
from qn_bot.store.sql import Store
from tests.conftest import T0

PARIS = timezone(timedelta(hours=1))


async def test_rows_round_trip_with_their_types(store: Store) -> None:
    """Timestamps (shared, distinct, in another zone), JSON of every shape, NULLs."""
    rows = [
        {"key": "a", "value": {"état": "ok", "n": [1, 2.5, None, True]}, "updated_at": T0},
        {"key": "b", "value": 41, "updated_at": T0},
        {"key": "c", "value": "texte", "updated_at": (T0 + timedelta(hours=3)).astimezone(PARIS)},
        {"key": "d", "value": [], "updated_at": T0 + timedelta(microseconds=1)},
    ]
    async with store.transaction() as tx:
        await LeanStatement(insert(t.kv), ["key", "value", "updated_at"]).executemany(tx.conn, rows)
    async with store.transaction() as tx:
        stored = (await tx.conn.execute(select(t.kv).order_by(t.kv.c.key))).all()
    assert [(r.key, r.value, r.updated_at) for r in stored] == [
        ("a", {"état": "ok", "n": [1, 2.5, None, True]}, T0),
        ("b", 41, T0),
        ("c", "texte", T0 + timedelta(hours=3)),
        ("d", [], T0 + timedelta(microseconds=1)),
    ]
    assert all(r.updated_at.tzinfo is UTC for r in stored)


async def test_an_update_by_key_and_no_rows(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.conn.execute(
            insert(t.kv), [{"key": k, "value": 0, "updated_at": T0} for k in ("a", "b", "c")]
        )
    statement = LeanStatement(
        update(t.kv).where(t.kv.c.key == bindparam("b_key")), ["value", "updated_at"]
    )
    later = T0 + timedelta(days=1)
    async with store.transaction() as tx:
        await statement.executemany(tx.conn, [])
        await statement.executemany(
            tx.conn,
            [
                {"b_key": "a", "value": {"x": 1}, "updated_at": later},
                {"b_key": "c", "value": None, "updated_at": later},
            ],
        )
    async with store.transaction() as tx:
        stored = (await tx.conn.execute(select(t.kv).order_by(t.kv.c.key))).all()
    assert [(r.key, r.value, r.updated_at) for r in stored] == [
        ("a", {"x": 1}, later),
        ("b", 0, T0),
        ("c", None, later),
    ]
