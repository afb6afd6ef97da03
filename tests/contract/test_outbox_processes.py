"""Outbox workers of several processes on one PostgreSQL: rows are claimed with
FOR UPDATE SKIP LOCKED, so workers never wait on each other nor send a row twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from qn_bot.domain import Address
from qn_bot.store.sql import Store
from tests.conftest import FixedClock
from tests.contract.test_outbox import (
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
            mine = await first.claim_outbox(
                clock(), limit=1, lease=LEASE, platforms={PLATFORM: None}
            )
            assert [r.message.text for r in mine] == ["a1"]
            # Not committed yet: without SKIP LOCKED this claim would block on row a1.
            async with asyncio.timeout(5), other.transaction() as second:
                theirs = await second.claim_outbox(
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
        async with background(worker_for(store, one)), background(worker_for(other, two)):
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
