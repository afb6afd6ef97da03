"""A citizen's message kept as a transcript row (the web chat's page) is written by the core
with the message, in the transaction that handles it: not a second transaction before it, not
kept twice when the message comes twice."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.clock import utcnow
from qn_bot.domain import Address, CampaignStatus, InboundKind, InboundMessage, KeptMessage, UserRef
from qn_bot.flows.loader import resolve_flow
from qn_bot.ports import TranscriptNews
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.contract.test_outbox_transcripts import transactions


def message(user: str, n: int, text: str) -> InboundMessage:
    return InboundMessage(
        sender=UserRef("web", user),
        address=Address("web", user),
        message_id=f"{user}:{n}",
        kind=InboundKind.TEXT,
        text=text,
        kept=KeptMessage("citizen", {"text": text}, f"post-{n}"),
    )


async def kept(store: Store) -> list[tuple[str, str, str]]:
    c = t.transcripts.c
    async with store.snapshot() as tx:
        rows = await tx.conn.execute(select(c.subject, c.client_id, c.body).order_by(c.id))
        return [(str(s), str(k), b["text"]) for s, k, b in rows]


async def test_many_citizens_messages_are_kept_with_them_in_one_transaction(store: Store) -> None:
    async with store.transaction() as tx:
        now = utcnow()
        flow = resolve_flow("construire-2030")
        await create_campaign(tx, slug="c", flow=flow, title="C", now=now)
        await set_status(tx, "c", CampaignStatus.OPEN, now)
    news: list[TranscriptNews] = []
    service = Service(store, on_kept=news.extend)
    users = [f"u{n}" for n in range(20)]
    await asyncio.gather(*(service.handle(message(u, 0, "/start c")) for u in users))
    await asyncio.gather(*(service.handle(message(u, 1, "1")) for u in users))
    begun = transactions(store)
    # One at a time first (a batch of one), then all at once (one group commit).
    await service.handle(message("u0", 2, "une idée"))
    assert begun[0] == 1
    await asyncio.gather(*(service.handle(message(u, 2, f"idée de {u}")) for u in users[1:]))
    rows = await kept(store)
    assert rows.count(("web:u0", "post-2", "une idée")) == 1
    assert {r for r in rows if r[1] == "post-2"} == {("web:u0", "post-2", "une idée")} | {
        (f"web:{u}", "post-2", f"idée de {u}") for u in users[1:]
    }
    # Told with the rows themselves, ids as stored.
    told = {(n.about, n.rows[0].key, n.last_id) for n in news}
    assert ("web", "u0") in {(n.about.platform, n.about.user_id) for n in news if n.about}
    assert len(told) == len(rows)

    # The same post again: handled once, kept once.
    before = len(await kept(store))
    result = await service.handle(message("u0", 2, "une idée"))
    assert result.duplicate
    assert len(await kept(store)) == before
