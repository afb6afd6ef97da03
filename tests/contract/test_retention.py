"""Retention: what was sent, message keys and adapter state are purged by the running bot."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from qn_bot.config import Config, RetentionConfig
from qn_bot.domain import Address, OutboundMessage
from qn_bot.outbox import OutboxWorker
from qn_bot.retention import purge
from qn_bot.scheduler import Scheduler
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.kv import StoreKeyValue
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_outbox import RecordingAdapter, pump
from tests.contract.test_service import PLATFORM, Citizen, open_campaign

KEEP_A_DAY = RetentionConfig(sent_payload_hours=24)


async def outbox(store: Store) -> list[Any]:
    async with store.transaction() as tx:
        return list((await tx.conn.execute(select(t.outbox).order_by(t.outbox.c.id))).all())


async def pages(store: Store) -> int:
    async with store.transaction() as tx:
        return int((await tx.conn.exec_driver_sql("PRAGMA page_count")).scalar_one())


async def test_200_data_requests_are_purged_once_sent_and_the_file_shrinks_back(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    """Each /mes_donnees queues a JSON file; once sent and past retention, the files leave the
    database and (SQLite) its pages are given back; what still waits to be sent is kept."""
    await open_campaign(store, clock)
    service = Service(store, clock=clock, pseudonyms=pseudonyms)
    alice = Citizen(service, "alice")
    await alice.join()
    for n in range(40):
        await alice.say(f"Idée numéro {n} : " + "des jardins partagés dans chaque rue " * 4)
    sqlite = store.dialect == "sqlite"
    before = await pages(store) if sqlite else 0
    for _ in range(200):
        await alice.say("/mes_donnees")
    files = [r for r in await outbox(store) if r.payload["attachments"]]
    assert len(files) == 200
    assert sum(len(a["data"]) for r in files for a in r.payload["attachments"]) > 1_500_000
    grown = await pages(store) if sqlite else 0
    # All but the last five were sent, by a worker keeping sent payloads for a day.
    sent, waiting = files[:-5], files[-5:]
    async with store.transaction() as tx:
        await tx.outbox.outbox_sent([r.id for r in sent], clock(), keep_payload=True)

    clock.advance(hours=23)
    assert (await purge(store, KEEP_A_DAY, clock())).sent_payloads == 0
    clock.advance(hours=2)
    purged = await purge(store, KEEP_A_DAY, clock())
    assert purged.sent_payloads >= len(sent)

    rows = {r.id: r for r in await outbox(store)}
    assert all(rows[r.id].payload is None for r in sent)
    assert [rows[r.id].payload for r in waiting] == [r.payload for r in waiting]
    assert all(rows[r.id].status == "pending" for r in waiting)
    if sqlite:
        growth = grown - before
        assert growth > 300
        # The free pages went back to the file system at once…
        assert await pages(store) < before + growth // 2
        # … and what is left is pages with room in them: a VACUUM takes the file back to its
        # size before the 200 requests, give or take the five files still waiting.
        path = make_url(store.engine.url).database
        assert path is not None
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("VACUUM")
        assert await pages(store) < before + growth // 10
    # A second run finds nothing more to do.
    assert (await purge(store, KEEP_A_DAY, clock())).sent_payloads == 0


async def test_a_sent_message_keeps_no_content_by_default(store: Store, clock: FixedClock) -> None:
    adapter = RecordingAdapter()
    async with store.transaction() as tx:
        for text in ("premier", "second"):
            await tx.outbox.enqueue(Address(PLATFORM, "chat-a"), OutboundMessage(text), clock())
    worker = OutboxWorker(store, {PLATFORM: adapter}, clock=clock)
    await pump(worker, store)
    assert adapter.texts() == ["premier", "second"]
    assert [(r.status, r.payload) for r in await outbox(store)] == [("sent", None)] * 2

    kept = OutboxWorker(store, {PLATFORM: adapter}, clock=clock, retention=KEEP_A_DAY)
    async with store.transaction() as tx:
        await tx.outbox.enqueue(Address(PLATFORM, "chat-a"), OutboundMessage("gardé"), clock())
    await pump(kept, store)
    assert (await outbox(store))[-1].payload["text"] == "gardé"


async def test_message_keys_old_rows_and_adapter_state_go_after_their_time(
    store: Store, clock: FixedClock
) -> None:
    retention = RetentionConfig()  # the defaults
    start = clock()
    kv = StoreKeyValue(store, clock, "adapter:test")
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "ancien", clock())
        old_sent = await tx.outbox.enqueue(
            Address(PLATFORM, "c"), OutboundMessage("vieux"), clock()
        )
        keyed = await tx.outbox.enqueue(
            Address(PLATFORM, "c"), OutboundMessage("clé"), clock(), dedupe_key="invite:1:1"
        )
        assert old_sent is not None
        assert keyed is not None
        await tx.outbox.outbox_sent([old_sent, keyed], clock())
        old_pending = await tx.outbox.enqueue(
            Address(PLATFORM, "d"), OutboundMessage("attend"), clock()
        )
    await kv.set("pending_dm:room-1", {"user": "u1"}, about=Address(PLATFORM, "room-1"))
    await kv.set("sync_token", "s42")

    clock.advance(days=retention.processed_keys_days - 1)
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "récent", clock())
    nothing = await purge(store, retention, clock())
    assert (nothing.message_keys, nothing.outbox_rows, nothing.adapter_state) == (0, 0, 0)

    clock.advance(days=2)
    purged = await purge(store, retention, clock())
    assert purged.message_keys == 1
    async with store.transaction() as tx:
        # A redelivery within the window is still recognised; an ancient one is not.
        assert not await tx.idempotency.claim_message(PLATFORM, "récent", clock())
        assert await tx.idempotency.claim_message(PLATFORM, "ancien", clock())

    clock.now = start + timedelta(days=max(retention.outbox_days, retention.adapter_state_days))
    clock.advance(days=1)
    purged = await purge(store, retention, clock())
    assert (purged.outbox_rows, purged.adapter_state) == (1, 1)
    remaining = {r.id: r.status for r in await outbox(store)}
    # The sent row with a dedupe key stays (exactly-once needs it), pending ones always do.
    assert remaining == {keyed: "sent", old_pending: "pending"}
    assert await kv.get("pending_dm:room-1") is None
    assert await kv.get("sync_token") == "s42"
    again = await purge(store, retention, clock())
    assert (again.message_keys, again.outbox_rows, again.adapter_state) == (0, 0, 0)


async def test_the_scheduler_runs_the_purge(store: Store, clock: FixedClock) -> None:
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "ancien", clock())
    scheduler = Scheduler(store, Config(retention=RetentionConfig()), clock=clock)
    clock.advance(days=30)
    await scheduler.purge_old_data()
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "ancien", clock())


def test_keys_must_outlive_telegrams_redelivery_window() -> None:
    with pytest.raises(ValueError, match="processed_keys_days"):
        RetentionConfig(processed_keys_days=0.5)


async def test_two_bots_purging_at_once_do_the_work_once(
    store: Store, clock: FixedClock, migrated_url: str
) -> None:
    """Every process of a PostgreSQL deployment runs the purge: no claim is needed, the work is
    shared and nothing is counted twice."""
    async with store.transaction() as tx:
        for n in range(1200):
            assert await tx.idempotency.claim_message(PLATFORM, f"m{n}", clock())
    clock.advance(days=8)
    async with Store.from_url(migrated_url) as other:
        done = await asyncio.gather(
            purge(store, RetentionConfig(), clock()), purge(other, RetentionConfig(), clock())
        )
    assert sum(p.message_keys for p in done) == 1200
    async with store.transaction() as tx:
        assert (await tx.conn.execute(select(t.processed_messages))).all() == []
