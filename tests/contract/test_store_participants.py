"""The storage contract of participants (qn_bot/store/participants.py), on every backend.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from sqlalchemy import select

from qn_bot.domain import Address, UserRef
from qn_bot.store import schema as t
from qn_bot.store.rows import message_key
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import PLATFORM, count, make_campaign, make_participant, say


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
