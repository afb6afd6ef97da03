"""The outbox of a platform whose messages are transcript rows of our own database (the web
chat): delivered by writing those rows, many chats in one transaction, exactly once, in order;
and the watchers told, in this process from memory and, on PostgreSQL, in another through
LISTEN/NOTIFY (issue 17: a reply kept by one `qn-bot run` reaches a page open on another)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select

from qn_bot.clock import utcnow
from qn_bot.domain import Address, Envelope, OutboundMessage, UserRef
from qn_bot.errors import PermanentDeliveryError
from qn_bot.outbox import OutboxWorker
from qn_bot.ports import Adapter, Capabilities, InboundSink, TranscriptNews
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from qn_bot.store.transcripts import StoreTranscripts
from tests.contract.test_outbox import eventually

PLATFORM = "kept"


class KeepingAdapter(Adapter):
    """Its messages are kept, never sent; a chat named "bad" cannot be one of its chats."""

    platform = PLATFORM
    capabilities = Capabilities(messages_per_second=1e9, transcript=True)

    async def start(self, sink: InboundSink) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, envelope: Envelope) -> None:
        raise AssertionError("a kept platform's message was sent")

    def transcript_body(self, chat_id: str, message: OutboundMessage) -> dict[str, Any]:
        if chat_id == "bad":
            raise PermanentDeliveryError("no such chat")
        return {"text": message.text}


def transactions(store: Store) -> list[int]:
    """A counter of the transactions begun on ``store`` from now on (reads included)."""
    count = [0]

    @event.listens_for(store.engine.sync_engine, "begin")
    def _begun(_conn: Any) -> None:
        count[0] += 1

    return count


async def queue(store: Store, chats: Sequence[str], per_chat: int, *, first: int = 0) -> None:
    async with store.transaction() as tx:
        for n in range(first, first + per_chat):
            for chat in chats:
                await tx.outbox.enqueue(
                    Address(PLATFORM, chat), OutboundMessage(f"{chat} {n}"), utcnow()
                )


async def kept_texts(store: Store) -> dict[str, list[str]]:
    """Each chat's kept rows' texts, in id order."""
    c = t.transcripts.c
    async with store.snapshot() as tx:
        rows = (await tx.conn.execute(select(c.subject, c.body).order_by(c.id))).all()
    out: dict[str, list[str]] = {}
    for subject, body in rows:
        out.setdefault(str(subject).removeprefix(f"{PLATFORM}:"), []).append(body["text"])
    return out


async def test_many_chats_messages_are_kept_in_one_transaction_in_order(store: Store) -> None:
    chats = [f"c{n}" for n in range(60)]
    await queue(store, chats, 3)
    news: list[TranscriptNews] = []
    worker = OutboxWorker(store, {PLATFORM: KeepingAdapter()}, on_kept=news.extend)
    begun = transactions(store)
    assert await worker.run_once() == 180
    assert begun[0] == 1  # not a claim, a send and an ack per message: one for them all
    kept = await kept_texts(store)
    assert kept == {chat: [f"{chat} {n}" for n in range(3)] for chat in chats}
    async with store.transaction() as tx:
        assert await tx.outbox.outbox_pending() == 0
    # The watchers hear of every row with its id, without reading the database again.
    assert sorted(n.last_id for n in news) == sorted(r.id for n in news for r in n.rows)
    assert {(n.about, n.rows[0].body["text"]) for n in news} == {
        (UserRef(PLATFORM, chat), f"{chat} {n}") for chat in chats for n in range(3)
    }


async def test_a_chat_waits_behind_its_head_that_is_not_due(store: Store) -> None:
    await queue(store, ["late", "on-time"], 2)
    async with store.transaction() as tx:
        c = t.outbox.c
        head = (
            await tx.conn.execute(select(c.id).where(c.chat_id == "late").order_by(c.id))
        ).first()
        assert head is not None
        await tx.outbox.outbox_retry(head.id, utcnow() + timedelta(hours=1), "later")
    worker = OutboxWorker(store, {PLATFORM: KeepingAdapter()})
    assert await worker.run_once() == 2
    assert await kept_texts(store) == {"on-time": ["on-time 0", "on-time 1"]}


async def test_a_chat_the_platform_refuses_fails_and_the_others_are_kept(store: Store) -> None:
    await queue(store, ["bad", "good"], 1)
    worker = OutboxWorker(store, {PLATFORM: KeepingAdapter()})
    await worker.run_once()
    assert await kept_texts(store) == {"good": ["good 0"]}
    c = t.outbox.c
    async with store.snapshot() as tx:
        states = dict((await tx.conn.execute(select(c.chat_id, c.status))).all())
    assert states == {"bad": "failed", "good": "sent"}


async def test_two_workers_at_once_keep_each_message_once_in_order(
    store: Store, migrated_url: str
) -> None:
    chats = [f"c{n}" for n in range(20)]
    other = Store.from_url(migrated_url)
    try:
        workers = [
            OutboxWorker(s, {PLATFORM: KeepingAdapter()}) for s in (store, other, store, other)
        ]
        for n in range(5):
            await queue(store, chats, 1, first=n)
            await asyncio.gather(*(w.run_once() for w in workers))
            await asyncio.gather(*(w.run_once() for w in workers))
    finally:
        await other.close()
    assert await kept_texts(store) == {chat: [f"{chat} {n}" for n in range(5)] for chat in chats}


async def test_rows_kept_by_another_process_are_heard(store: Store, migrated_url: str) -> None:
    """On PostgreSQL through LISTEN/NOTIFY (another Store is another connection pool, as another
    process would have); SQLite has one `qn-bot run` per file and needs no telling."""
    if store.dialect != "postgresql":
        return
    here = StoreTranscripts(store, utcnow)
    heard: list[TranscriptNews] = []
    here.watch(heard.extend)
    other = Store.from_url(migrated_url)
    try:
        assert here._notices is not None
        await asyncio.wait_for(here._notices.listening.wait(), 10)
        elsewhere = StoreTranscripts(other, utcnow)
        row = await elsewhere.append(UserRef("web", "abc"), "citizen", {"text": "hi"}, "k1")
        assert row is not None
        await eventually(lambda: any(n.about == UserRef("web", "abc") for n in heard))
        news = [n for n in heard if n.about is not None]
        assert news == [TranscriptNews(UserRef("web", "abc"), row.id)]
    finally:
        await here.close()
        await other.close()
