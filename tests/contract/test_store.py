"""The storage contract: what qn_bot.store.sql.Store promises, on every database backend —
its transactions; each repository has its contract in test_store_<repository>.py.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

import asyncio

from qn_bot.domain import Address
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import (
    PLATFORM,
    say,
)


async def test_concurrent_read_modify_write_transactions_lose_no_update(store: Store) -> None:
    """20 tasks, each its own transaction, each reads a counter and writes it back + 1.

    On SQLite this holds because every transaction starts with BEGIN IMMEDIATE (a deferred
    BEGIN loses updates or fails with "database is locked"); on PostgreSQL because the read
    says ``for_update`` (a row lock until commit).
    """
    async with store.transaction() as tx:
        await tx.kv.kv_set("counter", 0, T0)

    async def bump(n: int) -> None:
        async with store.transaction() as tx:
            value = await tx.kv.kv_get("counter", for_update=True)
            await asyncio.sleep(0)  # give every other task the chance to read the same value
            await tx.kv.kv_set("counter", value + 1, T0)

    await asyncio.gather(*(bump(n) for n in range(20)))
    async with store.transaction() as tx:
        assert await tx.kv.kv_get("counter") == 20


async def test_a_snapshot_reads_without_holding_up_writers(store: Store) -> None:
    """Digests read for seconds: answers must keep being written meanwhile."""
    async with store.transaction() as tx:
        await tx.outbox.enqueue(Address(PLATFORM, "chat-a"), say("before"), T0)
    async with store.snapshot() as snap:
        assert await snap.outbox.outbox_pending() == 1
        async with asyncio.timeout(5), store.transaction() as tx:
            await tx.outbox.enqueue(Address(PLATFORM, "chat-a"), say("during"), T0)
        assert await snap.outbox.outbox_pending() == 1  # it keeps the database as it first read it
    async with store.snapshot() as snap:
        assert await snap.outbox.outbox_pending() == 2
