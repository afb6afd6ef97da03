"""On Telegram, a message answers only a question that was on screen when it arrived.

A person who taps START and types "oui" at once sends both before the consent exists: the bot
reads them in one getUpdates. The "oui" must not be taken as consent.
"""

from __future__ import annotations

import pytest
from qn_bot.adapters.telegram import TelegramAdapter
from qn_bot.adapters.telegram.inbound import RECEIVED_KEY
from sqlalchemy import select

from qn_bot.clock import utcnow
from qn_bot.store import schema as t
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import RunningBot

pytestmark = pytest.mark.integration

NOT_ON_SCREEN = "avant que la question ne s’affiche"


async def consents(bot: RunningBot) -> list[int | None]:
    async with bot.app.store.transaction() as tx:
        return [r.consent_version for r in (await tx.conn.execute(select(t.sessions))).all()]


async def test_start_and_oui_sent_together_give_no_consent(bot: RunningBot) -> None:
    bob = bot.hub.citizen()
    await bob.burst(f"/start {SLUG}", "oui")
    first = await bob.expect(CONSENT_QUESTION)
    again = await bob.expect(NOT_ON_SCREEN, CONSENT_QUESTION)
    said = "\n".join(m.plain for m in [*first, *again])
    assert prompt("pourquoi") not in said
    assert [b.labels for b in again if b.labels] == [["J’accepte", "Je refuse"]]
    assert await bob.settle(0.5) == []
    assert await consents(bot) == [None]


async def test_an_answer_typed_as_soon_as_the_question_appeared_is_taken(
    bot: RunningBot,
) -> None:
    """Telegram dates messages to the second: the bot goes by when it received them, or a
    quick answer would look older than the question it answers."""
    for _ in range(3):
        citizen = bot.hub.citizen()
        await citizen.send(f"/start {SLUG}", CONSENT_QUESTION)
        await citizen.send("oui", prompt("pourquoi"))
        await citizen.send("Révolution numérique", "(1 au total)")
        await citizen.send("/suivant", prompt("meurt"))
        await citizen.send("Pouvoir vertical", "(1 au total)")
    assert await consents(bot) == [1, 1, 1]


async def test_a_button_pressed_after_the_question_appeared_still_answers(
    bot: RunningBot,
) -> None:
    """Button presses carry no date: the bot stamps them when it receives them."""
    alice = bot.hub.citizen()
    await alice.send(f"/start {SLUG}", CONSENT_QUESTION)
    await alice.press("J’accepte")
    await alice.expect(prompt("pourquoi"))
    assert await consents(bot) == [1]


async def test_an_update_replayed_from_the_journal_keeps_the_time_it_was_received(
    bot: RunningBot,
) -> None:
    """After a crash the poller hands the journaled updates over again: "oui" received before
    the consent was shown (in the same poll as /start) is still no consent."""
    bob = bot.hub.citizen()
    before = utcnow()
    await bob.send(f"/start {SLUG}", CONSENT_QUESTION)
    adapter = bot.app.adapters["telegram"]
    assert isinstance(adapter, TelegramAdapter)
    journaled = {
        "update_id": 10_000_000,
        "message": {
            "message_id": 10_000_000,
            "date": int(before.timestamp()),
            "from": bob.user,
            "chat": bob.chat,
            "text": "oui",
        },
        RECEIVED_KEY: before.isoformat(),
    }
    await adapter._process(journaled)
    await bob.expect(NOT_ON_SCREEN, CONSENT_QUESTION)
    assert await consents(bot) == [None]
