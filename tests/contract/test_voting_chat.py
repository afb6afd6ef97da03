"""Voting cards at the service level (SQLite, PostgreSQL): /voter shows others' public
statements one at a time, never one's own nor one voted on; a vote is one row however often
its button is pressed or its message delivered; the latest vote wins; /signaler flags the card
on screen; the end is said."""

from __future__ import annotations

import random

from sqlalchemy import select

from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.store_helpers import count
from tests.contract.test_service import Citizen


async def votes(store: Store) -> dict[str, int]:
    """Statement text → the stored vote (one row per voter and statement)."""
    async with store.transaction() as tx:
        rows = await tx.conn.execute(
            select(t.items.c.text, t.votes.c.value).join(t.items, t.items.c.id == t.votes.c.item_id)
        )
        found = [(text, value) for text, value in rows]
    assert len(found) == len({text for text, _ in found})
    return dict(found)


async def test_cards_votes_once_latest_wins_flag_and_the_end(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms, campaign: CampaignRecord
) -> None:
    service = Service(store, clock=clock, pseudonyms=pseudonyms, cards_random=random.Random(4))
    ada, bob = Citizen(service, "ada"), Citizen(service, "bob")
    await ada.join()
    for idea in ["Plus de pistes cyclables", "Des jardins partagés", "Moins de voitures"]:
        await ada.say(idea)
    await bob.join()
    await bob.say("Une idée de Bob")
    assert "Pour voter" not in await bob.say("/voter")  # he is in a campaign
    first = bob.last[0]
    assert "Proposition 1 sur 5" in first.text
    assert [b.label for b in first.buttons] == ["D'accord", "Pas d'accord", "Passer"]
    assert "Une idée de Bob" not in first.text  # never his own

    # A button pressed twice (two updates) and a redelivered update: one vote.
    agree = bob.button("D'accord")
    second = await bob.press(agree)
    assert "Proposition 2 sur 5" in second
    assert "Vote enregistré" in await bob.press(agree)
    redelivered = bob.message("2", message_id="bob-same")
    third = (await bob.send(redelivered)).replies
    assert "Proposition 3 sur 5" in third[0].text
    assert (await bob.send(redelivered)).duplicate
    cast = await votes(store)
    assert sorted(cast.values()) == [-1, 1]

    # /signaler flags the card on screen, which stays.
    assert "Merci" in await bob.say("/signaler")
    async with store.transaction() as tx:
        assert await count(tx, t.item_flags) == 1
    assert "Il n’y a plus de proposition" in await bob.say("3")  # the third and last
    cast = await votes(store)
    assert len(cast) == 3
    assert "Une idée de Bob" not in cast
    async with store.transaction() as tx:
        flagged = await tx.conn.execute(
            select(t.items.c.text).join(t.item_flags, t.item_flags.c.item_id == t.items.c.id)
        )
        assert flagged.scalar_one() in third[0].text

    # A change of mind on the first card: the latest vote wins, still one row.
    assert "Vote enregistré" in await bob.press(agree.replace(":agree", ":disagree"))
    changed = await votes(store)
    assert len(changed) == 3
    assert sorted(changed.values()) == [-1, -1, 0]
    assert "Il n’y a plus de proposition" in await bob.say("/voter")
