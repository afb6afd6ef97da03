"""Group commit's batch (qn_bot/store/batch.py) writes what a transaction's repositories write,
on every backend: one function turns an answer into rows for either."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from qn_bot.domain import Address, OutboundMessage
from qn_bot.repositories import MessageClaims, OutboxWrites, SessionWrites
from qn_bot.store import schema as t
from qn_bot.store.batch import BatchWrites
from qn_bot.store.sql import Store, Tx
from tests.conftest import T0
from tests.contract.store_helpers import PLATFORM, make_campaign, make_participant

LATER = T0 + timedelta(minutes=5)


async def write_answer(
    claims: MessageClaims,
    sessions: SessionWrites,
    outbox: OutboxWrites,
    *,
    participant_id: int,
    campaign_id: int,
    session_id: int,
    status: str,
) -> None:
    """An answer's rows, written through the write Protocols only."""
    message_id = f"m-{participant_id}"
    await claims.claim_message(PLATFORM, message_id, LATER, participant_id)
    await sessions.save_session(
        participant_id,
        campaign_id,
        {"at": "idees", "n": 2},
        LATER,
        status=status,
        step_id="idees",
        session_id=session_id,
    )
    for seq, text in enumerate(["une idée", "une autre"], start=1):
        await sessions.add_item(
            session_id=session_id,
            campaign_id=campaign_id,
            participant_id=participant_id,
            seq=seq,
            step_id="idees",
            text=text,
            value=None,
            now=LATER,
            source_message_id=message_id,
        )
    await outbox.enqueue(
        Address(PLATFORM, f"chat-{participant_id}"),
        OutboundMessage("Merci !"),
        LATER,
        participant_id=participant_id,
    )


async def rows_of(tx: Tx, participant_id: int) -> dict[str, Any]:
    """What the database holds of one participant's answer, without ids that differ."""
    s, i, r, o, m = (
        t.sessions.c,
        t.items.c,
        t.item_revisions.c,
        t.outbox.c,
        t.processed_messages.c,
    )

    async def all_of(stmt: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in (await tx.conn.execute(stmt)).all()]

    return {
        "session": await all_of(
            select(
                s.state,
                s.status,
                s.step_id,
                s.updated_at,
                s.last_input_at,
                s.reminders_sent,
                s.completed_at,
            ).where(s.participant_id == participant_id)
        ),
        "items": await all_of(
            select(i.seq, i.step_id, i.text, i.value, i.revision, i.created_at, i.updated_at)
            .where(i.participant_id == participant_id)
            .order_by(i.seq)
        ),
        "revisions": await all_of(
            select(r.revision, r.text, r.value, r.deleted, r.created_at)
            .join(t.items, i.id == r.item_id)
            .where(i.participant_id == participant_id)
            .order_by(i.seq)
        ),
        "outbox": await all_of(
            select(o.payload, o.status, o.attempts, o.next_attempt_at, o.dedupe_key).where(
                o.participant_id == participant_id
            )
        ),
        "claims": await all_of(select(m.processed_at).where(m.participant_id == participant_id)),
    }


@pytest.mark.parametrize("status", ["active", "completed"])
async def test_a_batch_writes_the_rows_a_transaction_writes(store: Store, status: str) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        ana, ben = (
            await make_participant(tx, "ana", "P-A"),
            await make_participant(tx, "ben", "P-B"),
        )
        ids = {
            p.id: await tx.sessions.save_session(
                p.id, campaign.id, {}, T0, status="active", step_id=None
            )
            for p in (ana, ben)
        }
    async with store.transaction() as tx:
        await write_answer(
            tx.idempotency,
            tx.sessions,
            tx.outbox,
            participant_id=ana.id,
            campaign_id=campaign.id,
            session_id=ids[ana.id],
            status=status,
        )
        batch = BatchWrites()
        await write_answer(
            batch,
            batch,
            batch,
            participant_id=ben.id,
            campaign_id=campaign.id,
            session_id=ids[ben.id],
            status=status,
        )
        await batch.flush(tx)
    async with store.snapshot() as tx:
        single, batched = await rows_of(tx, ana.id), await rows_of(tx, ben.id)
        claimed = await tx.idempotency.already_claimed(
            [(PLATFORM, f"m-{ana.id}"), (PLATFORM, f"m-{ben.id}")]
        )
    assert single["items"]  # something was written to compare
    assert batched == single
    assert claimed == {(PLATFORM, f"m-{ana.id}"), (PLATFORM, f"m-{ben.id}")}


async def test_a_batch_only_updates_sessions_that_exist() -> None:
    with pytest.raises(ValueError, match="existing sessions"):
        await BatchWrites().save_session(1, 1, {}, T0, status="active", step_id=None)
