"""The outbox's claim reads the pending rows only, however long the sent history is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, update

from qn_bot.domain import Address, OutboundMessage
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import T0


async def test_claims_search_the_pending_heads_index(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL plans by its statistics")
    async with store.transaction() as tx:
        for n in range(50):
            await tx.outbox.enqueue(Address("test", f"c{n % 5}"), OutboundMessage(f"m{n}"), T0)
        await tx.conn.execute(update(t.outbox).where(t.outbox.c.id <= 40).values(status="sent"))
    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "min(outbox.id)" in statement and not statement.startswith("EXPLAIN"):
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            plans.extend(str(r[3]) for r in rows)

    event.listen(store.engine.sync_engine, "before_cursor_execute", explain)
    try:
        async with store.transaction() as tx:
            rows = await tx.outbox.claim_outbox(
                T0, limit=10, lease=timedelta(seconds=60), platforms=["test"]
            )
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", explain)
    assert sorted(r.message.text for r in rows) == ["m40", "m41", "m42", "m43", "m44"]
    assert any("ix_outbox_pending_heads" in p for p in plans), plans
