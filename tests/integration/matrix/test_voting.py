"""Voting cards in an encrypted Matrix direct chat: a card is answered by its number typed, or
by a number reaction on it (the bot offers 1️⃣ 2️⃣ 3️⃣ under each card)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from qn_bot.store import schema as t
from qn_bot.store.sql import Store

from .bot import on_store
from .flow import CONSENT

pytestmark = pytest.mark.integration


async def test_cards_by_number_and_by_reaction(make_bot, make_citizen, database_url) -> None:
    bot = make_bot(database_url=database_url)
    alice, bob = await make_citizen(), await make_citizen()
    room = await alice.open_dm(bot.user_id, encrypted=True)
    await alice.say(room, *CONSENT)
    await alice.say(room, "1", "Pourquoi tout va changer")
    await alice.say(room, "Des transports gratuits", "Noté (1 au total)")
    await alice.say(room, "Des forêts urbaines", "Noté (2 au total)")

    dm = await bob.open_dm(bot.user_id, encrypted=True)
    await bob.say(dm, *CONSENT)
    await bob.say(dm, "1", "Pourquoi tout va changer")
    first = await bob.say(dm, "/voter", "Proposition 1 sur 5")
    assert "1. D'accord" in first.body
    second = await bob.say(dm, "1", "Proposition 2 sur 5")  # typed
    await bob.wait_for(lambda: (bot.user_id, second.event_id, "3️⃣") in bob.reactions, within=10)
    await bob.send_content(
        dm,
        "m.reaction",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": second.event_id, "key": "2️⃣"}},
    )
    await bob.expect(dm, "vous les avez toutes vues")

    async def votes(store: Store) -> list[int]:
        async with store.transaction() as tx:
            return sorted((await tx.conn.execute(select(t.votes.c.value))).scalars())

    assert await asyncio.to_thread(on_store, bot.database_url, votes) == [-1, 1]
