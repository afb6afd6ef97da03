"""The storage contract of the outbox's rows (qn_bot/store/outbox.py), on every backend;
the worker that sends them is tested in test_outbox.py.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

from datetime import timedelta

from qn_bot.domain import Address, OutboundMessage, UserRef
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import PLATFORM, count, say


async def test_enqueue_with_dedupe_key_queues_once(store: Store) -> None:
    address = Address(PLATFORM, "room-1")
    async with store.transaction() as tx:
        first = await tx.outbox.enqueue(address, say("digest"), T0, dedupe_key="digest:equipe:W03")
        second = await tx.outbox.enqueue(address, say("digest"), T0, dedupe_key="digest:equipe:W03")
    async with store.transaction() as tx:
        third = await tx.outbox.enqueue(address, say("digest"), T0, dedupe_key="digest:equipe:W03")
        plain_a = await tx.outbox.enqueue(address, say("hello"), T0)
        plain_b = await tx.outbox.enqueue(address, say("hello"), T0)
        assert await count(tx, t.outbox, t.outbox.c.dedupe_key == "digest:equipe:W03") == 1
        assert await count(tx, t.outbox) == 3
    assert first is not None
    assert (second, third) == (None, None)
    assert plain_a is not None
    assert plain_b is not None
    assert len({first, plain_a, plain_b}) == 3


async def test_claim_outbox_hands_out_each_chats_head_under_a_lease(store: Store) -> None:
    a, b = Address(PLATFORM, "chat-a"), Address(PLATFORM, "chat-b")
    lease = timedelta(seconds=60)
    async with store.transaction() as tx:
        a1 = await tx.outbox.enqueue(a, say("a1"), T0)
        b1 = await tx.outbox.enqueue(b, say("b1"), T0)
        a2 = await tx.outbox.enqueue(a, say("a2"), T0)
        await tx.outbox.enqueue(Address("other", "chat-a"), say("other platform"), T0)
        await tx.outbox.enqueue(
            Address(PLATFORM, "chat-later"), say("later"), T0 + timedelta(hours=1)
        )
    async with store.transaction() as tx:
        heads = await tx.outbox.claim_outbox(T0, limit=10, lease=lease, platforms=[PLATFORM])
    assert [(r.id, r.address, r.message.text, r.attempts) for r in heads] == [
        (a1, a, "a1", 0),
        (b1, b, "b1", 0),
    ]
    soon = T0 + timedelta(seconds=30)
    async with store.transaction() as tx:
        # Leased heads block their chats: a2 must not overtake a1.
        assert await tx.outbox.claim_outbox(soon, limit=10, lease=lease, platforms=[PLATFORM]) == []
    async with store.transaction() as tx:
        assert a1 is not None
        await tx.outbox.outbox_sent(a1, soon)
    async with store.transaction() as tx:
        after_sent = await tx.outbox.claim_outbox(soon, limit=10, lease=lease, platforms=[PLATFORM])
    assert [r.id for r in after_sent] == [a2]
    expired = T0 + lease + timedelta(seconds=1)
    async with store.transaction() as tx:
        # b1's lease ran out (its worker died): it is handed out again; a2's lease still holds.
        again = await tx.outbox.claim_outbox(expired, limit=10, lease=lease, platforms=[PLATFORM])
    assert [r.id for r in again] == [b1]
    async with store.transaction() as tx:
        assert await tx.outbox.outbox_pending([PLATFORM]) == 3
        assert await tx.outbox.outbox_pending() == 4
        assert await tx.outbox.next_outbox_due(["other"]) == T0


async def test_next_due_is_when_a_claim_will_find_something(store: Store) -> None:
    """Only chat heads count, a leased head from the end of its lease; skipped chats not at all:
    otherwise an idle worker polls in a loop while a paced backlog waits."""
    lease = timedelta(seconds=60)
    busy, later, idle = (Address(PLATFORM, c) for c in ("busy", "later", "idle"))
    async with store.transaction() as tx:
        await tx.outbox.enqueue(busy, say("head"), T0)
        await tx.outbox.enqueue(busy, say("queued behind the head"), T0)
        retry = await tx.outbox.enqueue(later, say("retried later"), T0)
        assert retry is not None
        await tx.outbox.outbox_retry(retry, T0 + timedelta(seconds=30), "network down")
    async with store.transaction() as tx:
        claimed = await tx.outbox.claim_outbox(T0, limit=1, lease=lease, platforms=[PLATFORM])
        assert [r.address for r in claimed] == [busy]
        # The busy chat's head is leased for 60 s; the retry is due in 30 s.
        assert await tx.outbox.next_outbox_due([PLATFORM]) == T0 + timedelta(seconds=30)
        assert await tx.outbox.next_outbox_due([PLATFORM], skip_chats=[later]) == T0 + lease
        assert await tx.outbox.next_outbox_due([PLATFORM], skip_chats=[busy, later]) is None
        await tx.outbox.enqueue(idle, say("new"), T0 + timedelta(seconds=1))
        assert await tx.outbox.next_outbox_due([PLATFORM], skip_chats=[busy]) == T0 + timedelta(
            seconds=1
        )


async def test_claim_outbox_respects_limit_and_retry_time(store: Store) -> None:
    lease = timedelta(seconds=60)
    async with store.transaction() as tx:
        ids = [
            await tx.outbox.enqueue(Address(PLATFORM, f"c{n}"), say(f"m{n}"), T0) for n in range(5)
        ]
    async with store.transaction() as tx:
        got = await tx.outbox.claim_outbox(T0, limit=2, lease=lease, platforms=[PLATFORM])
        assert [r.id for r in got] == ids[:2]
        assert ids[0] is not None
        await tx.outbox.outbox_retry(ids[0], T0 + timedelta(seconds=10), "network down")
    async with store.transaction() as tx:
        got = await tx.outbox.claim_outbox(T0, limit=10, lease=lease, platforms=[PLATFORM])
        assert [r.id for r in got] == ids[2:]  # c0 waits for its retry time, c1 is leased
    async with store.transaction() as tx:
        got = await tx.outbox.claim_outbox(
            T0 + timedelta(seconds=10), limit=10, lease=lease, platforms=[PLATFORM]
        )
    assert [(r.id, r.attempts) for r in got] == [(ids[0], 1)]


async def test_outbox_fail_chat_fails_only_that_chats_pending_rows(store: Store) -> None:
    a, b = Address(PLATFORM, "chat-a"), Address(PLATFORM, "chat-b")
    async with store.transaction() as tx:
        for n in range(3):
            await tx.outbox.enqueue(a, say(f"a{n}"), T0)
            await tx.outbox.enqueue(b, say(f"b{n}"), T0)
        assert await tx.outbox.outbox_fail_chat(a, "blocked") == 3
        assert await count(tx, t.outbox, t.outbox.c.status == "failed") == 3
        assert await tx.outbox.outbox_pending([PLATFORM]) == 3


async def test_outbox_ids_never_come_back_after_a_deletion(store: Store) -> None:
    """Matrix transaction ids are derived from outbox ids: a reused id would be deduplicated by
    the homeserver and the new message silently never posted."""
    now = T0
    async with store.transaction() as tx:
        participant = await tx.participants.create_participant(
            UserRef("test", "gone"), Address("test", "gone"), now, language=None
        )
        first = await tx.outbox.enqueue(
            Address("test", "gone"), OutboundMessage("a"), now, participant_id=participant.id
        )
        # Deletes the pending row, the newest one.
        await tx.participants.delete_participant(participant.id)
        second = await tx.outbox.enqueue(Address("test", "gone"), OutboundMessage("b"), now)
    assert first is not None
    assert second is not None
    assert second > first


async def test_claim_outbox_only_hands_out_chats_the_worker_can_reach(store: Store) -> None:
    """Two `qn-bot chat` consoles on one database each print only their own replies."""
    alice, bob = Address("console", "alice"), Address("console", "bob")
    lease = timedelta(seconds=60)
    async with store.transaction() as tx:
        await tx.outbox.enqueue(alice, say("for alice"), T0)
        for_bob = await tx.outbox.enqueue(bob, say("for bob"), T0)
        for_bot = await tx.outbox.enqueue(Address(PLATFORM, "anyone"), say("for a bot chat"), T0)
    reach = {"console": frozenset({"bob"}), PLATFORM: None}
    async with store.transaction() as tx:
        claimed = await tx.outbox.claim_outbox(T0, limit=10, lease=lease, platforms=reach)
        assert await tx.outbox.next_outbox_due({"console": frozenset({"carol"})}) is None
        assert await tx.outbox.next_outbox_due({"console": frozenset({"alice"})}) == T0
    assert sorted(r.id for r in claimed) == sorted([for_bob, for_bot])


async def test_a_deferred_message_waits_outside_its_chats_order(store: Store) -> None:
    """A reminder held until the quiet hours end holds back none of its chat's messages; once
    due, it goes when its chat has nothing else waiting."""
    lease = timedelta(seconds=60)
    chat = Address(PLATFORM, "citizen")
    morning = T0 + timedelta(hours=10)
    async with store.transaction() as tx:
        reminder = await tx.outbox.enqueue(chat, say("reminder"), T0, not_before=morning)
        reply = await tx.outbox.enqueue(chat, say("reply"), T0)
    async with store.transaction() as tx:
        claimed = await tx.outbox.claim_outbox(T0, limit=10, lease=lease, platforms=[PLATFORM])
        assert [r.id for r in claimed] == [reply]
        await tx.outbox.outbox_sent([r.id for r in claimed], T0)
        assert await tx.outbox.next_outbox_due([PLATFORM]) == morning
        assert (
            await tx.outbox.claim_outbox(
                morning - timedelta(seconds=1), limit=10, lease=lease, platforms=[PLATFORM]
            )
            == []
        )
        # Due, behind a message queued meanwhile: that one first.
        later = await tx.outbox.enqueue(chat, say("later reply"), morning)
    async with store.transaction() as tx:
        claimed = await tx.outbox.claim_outbox(morning, limit=10, lease=lease, platforms=[PLATFORM])
        assert [r.id for r in claimed] == [later]
        await tx.outbox.outbox_sent([r.id for r in claimed], morning)
    async with store.transaction() as tx:
        claimed = await tx.outbox.claim_outbox(morning, limit=10, lease=lease, platforms=[PLATFORM])
    assert [(r.id, r.message.text) for r in claimed] == [(reminder, "reminder")]


async def test_a_deferred_message_in_flight_holds_back_its_chats_next_one(store: Store) -> None:
    """Never two messages of one chat at once, even on two workers: a reply queued while its
    chat's deferred reminder is being sent waits for it."""
    lease = timedelta(seconds=60)
    chat = Address(PLATFORM, "citizen")
    async with store.transaction() as tx:
        reminder = await tx.outbox.enqueue(chat, say("reminder"), T0, not_before=T0)
    async with store.transaction() as tx:
        claimed = await tx.outbox.claim_outbox(T0, limit=10, lease=lease, platforms=[PLATFORM])
        assert [r.id for r in claimed] == [reminder]
        reply = await tx.outbox.enqueue(chat, say("reply"), T0)
    soon = T0 + timedelta(seconds=1)
    async with store.transaction() as tx:
        assert await tx.outbox.claim_outbox(soon, limit=10, lease=lease, platforms=[PLATFORM]) == []
        assert await tx.outbox.next_outbox_due([PLATFORM]) == T0 + lease
        assert reminder is not None
        await tx.outbox.outbox_sent(reminder, soon)
    async with store.transaction() as tx:
        claimed = await tx.outbox.claim_outbox(soon, limit=10, lease=lease, platforms=[PLATFORM])
    assert [r.id for r in claimed] == [reply]


async def test_the_backlog_counts_a_deferred_message_from_its_time_on(store: Store) -> None:
    """Reminders held through the night are no backlog (nor an old one) for the operator."""
    morning = T0 + timedelta(hours=10)
    async with store.transaction() as tx:
        await tx.outbox.enqueue(Address(PLATFORM, "a"), say("reminder"), T0, not_before=morning)
        assert await tx.outbox.outbox_backlog(T0) == {}
        await tx.outbox.enqueue(Address(PLATFORM, "b"), say("reply"), morning)
        assert await tx.outbox.outbox_backlog(morning - timedelta(seconds=1)) == {
            PLATFORM: (1, morning)
        }
        assert await tx.outbox.outbox_backlog(morning) == {PLATFORM: (2, morning)}
        assert await tx.outbox.outbox_pending() == 2


async def test_a_deferred_message_holds_back_nothing_a_kept_platform_takes(store: Store) -> None:
    """The web chat's worker takes due messages of every chat at once (outbox_take_due): a
    reminder deferred past the quiet hours must not stop its chat's replies there either."""
    chat = Address(PLATFORM, "citizen")
    morning = T0 + timedelta(hours=10)
    async with store.transaction() as tx:
        reminder = await tx.outbox.enqueue(chat, say("reminder"), T0, not_before=morning)
        reply = await tx.outbox.enqueue(chat, say("reply"), T0)
        taken = await tx.outbox.outbox_take_due(T0, platforms=[PLATFORM], limit=10)
        assert [r.id for r in taken] == [reply]
        await tx.outbox.outbox_sent([reply], T0)
    async with store.transaction() as tx:
        taken = await tx.outbox.outbox_take_due(morning, platforms=[PLATFORM], limit=10)
    assert [r.id for r in taken] == [reminder]
