"""Outbox workers of several processes on one PostgreSQL: rows are claimed with
FOR UPDATE SKIP LOCKED, so workers never wait on each other nor send a row twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from qn_bot.clock import utcnow
from qn_bot.config import OutboxConfig
from qn_bot.domain import Address
from qn_bot.outbox import RECOVER_SECONDS, OutboxWorker
from qn_bot.store.leadership import PostgresLeadership
from qn_bot.store.sql import Store
from tests.conftest import FixedClock
from tests.contract.test_outbox import (
    FAST,
    PLATFORM,
    RecordingAdapter,
    background,
    eventually,
    nothing_pending,
    queue,
    worker_for,
)

LEASE = timedelta(seconds=60)


def postgres_only(url: str) -> None:
    if not url.startswith("postgresql"):
        pytest.skip("SQLite: one process per database file")


async def test_a_row_claimed_by_an_open_transaction_is_skipped_not_waited_for(
    store: Store, migrated_url: str, clock: FixedClock
) -> None:
    postgres_only(migrated_url)
    await queue(store, ("a", "a1"), ("b", "b1"), ("c", "c1"), now=clock())
    other = Store.from_url(migrated_url)  # another process
    try:
        async with store.transaction() as first:
            mine = await first.outbox.claim_outbox(
                clock(), limit=1, lease=LEASE, platforms={PLATFORM: None}
            )
            assert [r.message.text for r in mine] == ["a1"]
            # Not committed yet: without SKIP LOCKED this claim would block on row a1.
            async with asyncio.timeout(5), other.transaction() as second:
                theirs = await second.outbox.claim_outbox(
                    clock(), limit=10, lease=LEASE, platforms={PLATFORM: None}
                )
            assert sorted(r.message.text for r in theirs) == ["b1", "c1"]
    finally:
        await other.close()


async def test_two_workers_on_one_database_send_every_message_once_in_order(
    store: Store, migrated_url: str
) -> None:
    postgres_only(migrated_url)
    chats = [f"chat-{n}" for n in range(30)]
    per_chat = 5
    messages = [(chat, f"{chat}:{i}") for i in range(per_chat) for chat in chats]
    await queue(store, *messages)
    other = Store.from_url(migrated_url)
    one, two = RecordingAdapter(), RecordingAdapter()
    try:
        # Each worker may hold 4 x 2 chats at a time: neither can take all 30 for itself.
        few = OutboxConfig(backoff_base_seconds=0.001, backoff_max_seconds=0.01, concurrency=2)
        async with (
            background(worker_for(store, one, config=few)),
            background(worker_for(other, two, config=few)),
        ):
            await eventually(lambda: nothing_pending(store), within=30)
    finally:
        await other.close()
    sent = sorted(one.sent + two.sent, key=lambda pair: pair[0])  # one event loop, one clock
    texts = [e.message.text for _, e in sent]
    assert sorted(texts) == sorted(text for _, text in messages)  # each exactly once
    assert one.sent, "both workers took part"
    assert two.sent, "both workers took part"
    for chat in chats:  # in order per chat, whichever worker sent each one
        in_chat = [e.message.text for _, e in sent if e.address == Address(PLATFORM, chat)]
        assert in_chat == [f"{chat}:{i}" for i in range(per_chat)]


async def test_leases_of_a_worker_that_died_are_taken_over_at_once_not_after_the_lease(
    store: Store, migrated_url: str
) -> None:
    """A worker's leases name it; its liveness lock dies with its process, so another
    process's worker releases and sends those rows within seconds, not after LEASE."""
    postgres_only(migrated_url)
    await queue(store, ("a", "a1"), ("b", "b1"))
    doomed, survivor = PostgresLeadership(migrated_url), PostgresLeadership(migrated_url)
    adapter = RecordingAdapter()
    worker = OutboxWorker(store, {PLATFORM: adapter}, config=FAST, leadership=survivor)
    try:
        async with doomed.hold("outbox-worker:0123456789abcdef"):
            async with store.transaction() as tx:
                held = await tx.outbox.claim_outbox(
                    utcnow(), limit=10, lease=LEASE, platforms=[PLATFORM], owner="0123456789abcdef"
                )
            assert len(held) == 2
            async with background(worker):
                await asyncio.sleep(3 * RECOVER_SECONDS)
                assert adapter.texts() == []  # its owner is alive: the leases stand
        # The doomed worker's lock is gone (its process died): taken over well before LEASE.
        async with background(worker):
            await eventually(lambda: nothing_pending(store), within=4 * RECOVER_SECONDS + 2)
        assert sorted(adapter.texts()) == ["a1", "b1"]
    finally:
        await doomed.close()
        await survivor.close()
