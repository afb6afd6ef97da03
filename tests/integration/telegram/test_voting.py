"""Voting cards on Telegram (emulator): « D'accord » / « Pas d'accord » / « Passer » are inline
buttons, answered and taken away once pressed; a button pressed twice is one vote."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qn_bot.store import schema as t
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import RunningBot

pytestmark = pytest.mark.integration


async def test_cards_are_buttons_answered_and_removed_a_double_press_is_one_vote(
    bot: RunningBot,
) -> None:
    alice, bob = bot.hub.citizen(), bot.hub.citizen()
    await alice.send(f"/start {SLUG}", CONSENT_QUESTION)
    await alice.send("oui", prompt("pourquoi"))
    await alice.send("Des transports gratuits", "(1 au total)")
    await alice.send("Des forêts urbaines", "(2 au total)")
    await bob.send(f"/start {SLUG}", CONSENT_QUESTION)
    await bob.send("oui", prompt("pourquoi"))
    (card,) = await bob.send("/voter", "Proposition 1 sur 5")
    assert card.labels == ["D'accord", "Pas d'accord", "Passer"]

    first = await bob.press("D'accord", on=card)
    second = await bob.press("D'accord", on=card)  # pressed again before it went away
    (next_card,) = await bob.expect("Proposition 2 sur 5")
    await bob.expect("Vote enregistré")
    await bob.press("Pas d'accord", on=next_card)
    await bob.expect("vous les avez toutes vues")

    async with bot.app.store.transaction() as tx:
        rows = (await tx.conn.execute(select(t.votes.c.item_id, t.votes.c.value))).all()
    assert sorted(value for _, value in rows) == [-1, 1]  # one vote per card
    state = await bot.hub.state()
    pressed = [first["callback_query_id"], second["callback_query_id"]]
    assert set(pressed) <= set(state["answered_callbacks"])
    for message in (card, next_card):
        current = await bot.hub.message(bob.chat_id, message.message_id)
        assert current.get("reply_markup") is None, current
