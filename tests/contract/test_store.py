"""The storage contract: what qn_bot.store.sql.Store promises, on every database backend.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy.exc
from sqlalchemy import func, select

from qn_bot.domain import Address, CampaignStatus, OutboundMessage, UserRef
from qn_bot.errors import CampaignError
from qn_bot.records import CampaignRecord, ParticipantRecord
from qn_bot.store import schema as t
from qn_bot.store.rows import message_key
from qn_bot.store.sql import Store, Tx
from tests.conftest import T0

PLATFORM = "test"
FLOW_SOURCE = """
id = "mini"
version = 1
languages = ["fr"]
title = "Mini"

[[steps]]
id = "idees"
kind = "list"
prompt = "Vos idées ?"
section = "Idées"
"""


async def count(tx: Tx, table: t.Table, *where: object) -> int:
    stmt = select(func.count()).select_from(table)
    if where:
        stmt = stmt.where(*where)  # type: ignore[arg-type]
    return int((await tx.conn.execute(stmt)).scalar_one())


async def make_campaign(tx: Tx, slug: str = "mini-2030", **kw: object) -> CampaignRecord:
    return await tx.campaigns.create_campaign(
        slug=slug,
        title=f"Titre {slug}",
        flow_id="mini",
        flow_version=1,
        flow_source=FLOW_SOURCE,
        now=T0,
        **kw,  # type: ignore[arg-type]
    )


async def make_participant(tx: Tx, user_id: str, pseudonym: str) -> ParticipantRecord:
    return await tx.participants.create_participant(
        UserRef(PLATFORM, user_id),
        Address(PLATFORM, f"chat-{user_id}"),
        T0,
        language="fr",
        pseudonym_factory=lambda: pseudonym,
    )


def say(text: str) -> OutboundMessage:
    return OutboundMessage(text)


# ------------------------------------------------------------------ idempotency and jobs


async def test_claim_message_is_idempotent(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0) is True
        assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0) is False
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0 + timedelta(hours=1)) is False
        # The key is (platform, message id): another platform's id 'm-1' is another message.
        assert await tx.idempotency.claim_message("other", "m-1", T0) is True
        assert await count(tx, t.processed_messages) == 2


async def test_claim_message_rolled_back_with_its_transaction(store: Store) -> None:
    async def fails_after_claiming() -> None:
        async with store.transaction() as tx:
            assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fails_after_claiming()
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0) is True


async def test_claim_job_exactly_once(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_job("digest:equipe:2026-W03", "worker-a", T0) is True
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_job("digest:equipe:2026-W03", "worker-b", T0) is False
        assert await tx.idempotency.claim_job("digest:equipe:2026-W04", "worker-b", T0) is True


async def test_claim_job_with_concurrent_claimants_has_one_winner(store: Store) -> None:
    async def claim(n: int) -> bool:
        async with store.transaction() as tx:
            won = await tx.idempotency.claim_job("reminder:mini-2030:2026-01-15", f"worker-{n}", T0)
            await asyncio.sleep(0)  # let the others try while this transaction is open
            return won

    results = await asyncio.gather(*(claim(n) for n in range(20)))
    assert results.count(True) == 1
    async with store.transaction() as tx:
        assert await count(tx, t.job_runs) == 1


# ------------------------------------------------------------------ campaigns


async def test_create_and_list_campaigns(store: Store) -> None:
    async with store.transaction() as tx:
        a = await make_campaign(tx, "alpha", edition="Construire 2030")
        b = await make_campaign(tx, "beta", status=CampaignStatus.OPEN)
    assert a.status is CampaignStatus.DRAFT
    assert a.edition == "Construire 2030"
    assert a.flow_source == FLOW_SOURCE
    assert a.created_at == T0
    async with store.transaction() as tx:
        assert [c.slug for c in await tx.campaigns.campaigns()] == ["alpha", "beta"]
        assert [c.slug for c in await tx.campaigns.campaigns(CampaignStatus.OPEN)] == ["beta"]
        assert [c.slug for c in await tx.campaigns.campaigns(CampaignStatus.CLOSED)] == []
        assert await tx.campaigns.campaign_by_slug("beta") == b
        assert await tx.campaigns.campaign_by_id(a.id) == a
        assert await tx.campaigns.campaign_by_slug("gamma") is None
        await tx.campaigns.set_campaign_status(a.id, CampaignStatus.CLOSED, T0 + timedelta(days=1))
    async with store.transaction() as tx:
        closed = await tx.campaigns.campaign_by_id(a.id)
        assert closed is not None
        assert closed.status is CampaignStatus.CLOSED
        assert closed.updated_at == T0 + timedelta(days=1)


async def test_duplicate_campaign_slug_is_an_error(store: Store) -> None:
    async with store.transaction() as tx:
        await make_campaign(tx, "alpha")
    with pytest.raises(CampaignError, match="alpha"):
        async with store.transaction() as tx:
            await make_campaign(tx, "alpha")
    async with store.transaction() as tx:
        assert len(await tx.campaigns.campaigns()) == 1


# ------------------------------------------------------------------ participants


async def test_participant_unique_per_platform_and_user(store: Store) -> None:
    async with store.transaction() as tx:
        alice = await make_participant(tx, "alice", "P-A")
        # The same user id on another platform is another person.
        other = await tx.participants.create_participant(
            UserRef("other", "alice"),
            Address("other", "chat-alice"),
            T0,
            language=None,
            pseudonym_factory=lambda: "P-B",
        )
    assert alice.user == UserRef(PLATFORM, "alice")
    assert alice.reply_to == Address(PLATFORM, "chat-alice")
    assert alice.id != other.id
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        async with store.transaction() as tx:
            await make_participant(tx, "alice", "P-C")
    async with store.transaction() as tx:
        assert await count(tx, t.participants) == 2
        found = await tx.participants.participant(UserRef(PLATFORM, "alice"))
        assert found == alice
        assert await tx.participants.participant_by_id(alice.id) == alice
        assert await tx.participants.participant(UserRef(PLATFORM, "nobody")) is None


async def test_pseudonyms_are_unique(store: Store) -> None:
    offered = iter(["P-SAME", "P-SAME", "P-SAME", "P-NEW"])
    async with store.transaction() as tx:
        first = await make_participant(tx, "alice", "P-SAME")
        second = await tx.participants.create_participant(
            UserRef(PLATFORM, "bob"),
            Address(PLATFORM, "chat-bob"),
            T0,
            language=None,
            pseudonym_factory=lambda: next(offered),
        )
    assert first.pseudonym == "P-SAME"
    assert second.pseudonym == "P-NEW"
    # A factory that never finds a free pseudonym is refused, not silently duplicated.
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await make_participant(tx, "carol", "P-SAME")
    async with store.transaction() as tx:
        pseudonyms = (await tx.conn.execute(select(t.participants.c.pseudonym))).scalars().all()
        assert sorted(pseudonyms) == ["P-NEW", "P-SAME"]


async def test_update_participant_and_mark_unreachable(store: Store) -> None:
    async with store.transaction() as tx:
        p = await make_participant(tx, "alice", "P-A")
        await tx.participants.update_participant(
            p.id, T0, language="en", stopped=True, pending_action="x"
        )
        with pytest.raises(TypeError):
            await tx.participants.update_participant(p.id, T0, pseudonym="P-Z")
        await tx.participants.mark_unreachable(Address(PLATFORM, "chat-alice"), T0)
        fresh = await tx.participants.participant_by_id(p.id)
    assert fresh is not None
    assert (fresh.language, fresh.stopped, fresh.pending_action, fresh.unreachable) == (
        "en",
        True,
        "x",
        True,
    )
    assert fresh.pseudonym == "P-A"


# ------------------------------------------------------------------ items and revisions


async def test_items_keep_their_revision_history(store: Store) -> None:
    async with store.transaction() as tx:
        c = await make_campaign(tx)
        p = await make_participant(tx, "alice", "P-A")
        s = await tx.sessions.save_session(
            p.id, c.id, {"v": 1}, T0, status="active", step_id="idees"
        )
        common = {"session_id": s, "campaign_id": c.id, "participant_id": p.id, "value": None}
        await tx.sessions.add_item(seq=1, step_id="idees", text="premier jet", now=T0, **common)
        await tx.sessions.add_item(seq=2, step_id="idees", text="à jeter", now=T0, **common)
        await tx.sessions.add_item(seq=3, step_id="idees", text="inchangé", now=T0, **common)
    later = T0 + timedelta(minutes=5)
    async with store.transaction() as tx:
        await tx.sessions.revise_item(
            session_id=s, seq=1, revision=2, text="version finale", value=None, now=later
        )
        await tx.sessions.delete_item(session_id=s, seq=2, now=later)
    async with store.transaction() as tx:
        items = await tx.sessions.campaign_items(c.id)
        revisions = await tx.sessions.campaign_revisions(c.id)
    assert [(i.seq, i.text, i.revision, i.pseudonym) for i in items] == [
        (1, "version finale", 2, "P-A"),
        (3, "inchangé", 1, "P-A"),
    ]
    assert items[0].created_at == T0
    assert items[0].updated_at == later
    by_item: dict[int, list[tuple[int, str, bool]]] = {}
    for r in revisions:
        by_item.setdefault(r.item_id, []).append((r.revision, r.text, r.deleted))
    assert sorted(by_item.values()) == sorted(
        [
            [(1, "premier jet", False), (2, "version finale", False)],
            [(1, "à jeter", False), (2, "à jeter", True)],
            [(1, "inchangé", False)],
        ]
    )


async def test_save_session_creates_then_updates_one_row(store: Store) -> None:
    async with store.transaction() as tx:
        c = await make_campaign(tx)
        p = await make_participant(tx, "alice", "P-A")
        first = await tx.sessions.save_session(
            p.id, c.id, {"n": 1}, T0, status="active", step_id="idees"
        )
        again = await tx.sessions.save_session(
            p.id, c.id, {"n": 2}, T0, status="completed", step_id=None
        )
        session = await tx.sessions.session(p.id, c.id)
        assert await count(tx, t.sessions) == 1
    assert first == again
    assert session is not None
    assert (session.state, session.status) == ({"n": 2}, "completed")


async def test_delete_participant_erases_everything_about_them(store: Store) -> None:
    async with store.transaction() as tx:
        c = await make_campaign(tx)
        keep = await make_participant(tx, "bob", "P-B")
        gone = await make_participant(tx, "alice", "P-A")
        for p in (keep, gone):
            s = await tx.sessions.save_session(p.id, c.id, {}, T0, status="active", step_id="idees")
            await tx.sessions.add_item(
                session_id=s,
                campaign_id=c.id,
                participant_id=p.id,
                seq=1,
                step_id="idees",
                text=f"idée de {p.pseudonym}",
                value=None,
                now=T0,
            )
            await tx.sessions.revise_item(
                session_id=s,
                seq=1,
                revision=2,
                text=f"idée revue de {p.pseudonym}",
                value=None,
                now=T0,
            )
            await tx.idempotency.claim_message(PLATFORM, f"msg-{p.pseudonym}", T0, p.id)
            sent = await tx.outbox.enqueue(
                p.reply_to, say(f"déjà envoyé à {p.pseudonym}"), T0, participant_id=p.id
            )
            assert sent is not None
            await tx.outbox.outbox_sent(sent, T0)
            await tx.outbox.enqueue(
                p.reply_to, say(f"en attente pour {p.pseudonym}"), T0, participant_id=p.id
            )
    async with store.transaction() as tx:
        await tx.participants.delete_participant(gone.id)
    async with store.transaction() as tx:
        assert await tx.participants.participant_by_id(gone.id) is None
        assert await tx.participants.participant(UserRef(PLATFORM, "alice")) is None
        assert await count(tx, t.items, t.items.c.participant_id == gone.id) == 0
        assert await count(tx, t.sessions, t.sessions.c.participant_id == gone.id) == 0
        assert await count(tx, t.item_revisions) == 2  # bob's two revisions only
        keys = (await tx.conn.execute(select(t.processed_messages.c.message_id))).scalars().all()
        assert keys == [message_key("msg-P-B")]
        rows = (await tx.conn.execute(select(t.outbox).order_by(t.outbox.c.id))).all()
        texts = [
            (r.status, r.payload and r.payload["text"], r.participant_id, r.chat_id) for r in rows
        ]
        # Alice's messages are gone, sent or not (none had a dedupe key to keep); Bob's stay,
        # the sent one emptied as every sent message is by default.
        assert texts == [
            ("sent", None, keep.id, "chat-bob"),
            ("pending", "en attente pour P-B", keep.id, "chat-bob"),
        ]
        assert [i.text for i in await tx.sessions.campaign_items(c.id)] == ["idée revue de P-B"]


# ------------------------------------------------------------------ outbox


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


# ------------------------------------------------------------------ key-value and isolation


async def test_kv_set_is_an_upsert(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.kv.kv_get("adapter:test:offset") is None
        await tx.kv.kv_set("adapter:test:offset", 41, T0)
        await tx.kv.kv_set("adapter:test:device", {"id": "ABC", "keys": [1, 2]}, T0)
    async with store.transaction() as tx:
        assert await tx.kv.kv_get("adapter:test:offset") == 41
        await tx.kv.kv_set("adapter:test:offset", 42, T0 + timedelta(seconds=1))
    async with store.transaction() as tx:
        assert await tx.kv.kv_get("adapter:test:offset") == 42
        assert await tx.kv.kv_get("adapter:test:device") == {"id": "ABC", "keys": [1, 2]}
        assert await count(tx, t.kv) == 2


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
        await tx.participants.delete_participant(
            participant.id
        )  # deletes the pending row, the newest one
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
