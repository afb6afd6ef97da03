"""Sending under Telegram's limits: 429 answers, blocked users, pacing; 50 citizens at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from qn_bot.domain import UserRef
from tests.integration.construire import CONSENT_QUESTION, NOTED, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import RunningBot, running_bot, telegram_config
from tests.integration.telegram.harness import Citizen, Emulator

pytestmark = pytest.mark.integration


async def at_first_question(citizen: Citizen, within: float = 10.0) -> None:
    await citizen.send(f"/start {SLUG}", CONSENT_QUESTION, within=within)
    await citizen.press("J’accepte")
    await citizen.expect(prompt("pourquoi"), within=within)


def counts(citizen: Citizen) -> list[int]:
    return [int(m) for m in NOTED.findall("\n".join(x.plain for x in citizen.history))]


async def test_429_answers_are_honoured_without_loss_or_reordering(bot: RunningBot) -> None:
    alice = bot.hub.citizen()
    await at_first_question(alice)
    calls_before = (await bot.hub.state())["calls"]["sendMessage"]
    await bot.hub.flood(3, retry_after=1)
    items = [f"Idée numéro {n}" for n in range(1, 7)]
    for item in items:
        await alice.say(item)
    await alice.expect("(6 au total)", within=20)
    assert counts(alice) == [1, 2, 3, 4, 5, 6]
    calls = (await bot.hub.state())["calls"]["sendMessage"]
    assert calls - calls_before == 6 + 3  # three refused with 429, each sent again once
    rows = await bot.export()
    assert [r["text"] for r in rows if r["step"] == "pourquoi"] == items


async def test_a_user_who_blocked_the_bot_is_marked_unreachable_and_not_retried(
    bot: RunningBot,
) -> None:
    alice = bot.hub.citizen()
    await at_first_question(alice)
    await bot.hub.block(alice.chat_id)
    before = (await bot.hub.state())["calls"]["sendMessage"]
    await alice.say("Révolution numérique")
    await alice.say("Accélérateur")

    async def unreachable() -> bool:
        async with bot.app.store.transaction() as tx:
            participant = await tx.participants.participant(UserRef("telegram", str(alice.user_id)))
        return participant is not None and participant.unreachable

    for _ in range(100):
        if await unreachable():
            break
        await asyncio.sleep(0.05)
    assert await unreachable()

    async def attempts() -> int:
        return int((await bot.hub.state())["calls"]["sendMessage"]) - before

    await asyncio.sleep(1.5)  # long enough for a retry with backoff to happen, if any
    settled = await attempts()
    await asyncio.sleep(1.5)
    assert await attempts() == settled, "a reply refused with Forbidden was tried again"
    # Forbidden fails every reply queued for that chat: one try in all — or two when the second
    # message arrived after the first refusal (a citizen writing to us makes their chat
    # reachable again, and its reply is tried once too).
    assert settled in (1, 2)
    assert await unreachable()
    # The answers themselves were committed before the replies failed.
    rows = await bot.export()
    assert [r["text"] for r in rows] == ["Révolution numérique", "Accélérateur"]


async def test_one_chat_gets_about_one_message_a_second(emulator: Emulator, tmp_path: Path) -> None:
    async with running_bot(telegram_config(emulator, tmp_path), limits=None) as bot:
        alice = bot.hub.citizen()
        await at_first_question(alice)
        for n in range(1, 7):
            await alice.say(f"Idée {n}")
        await alice.expect("(6 au total)", within=20)
        noted = [m for m in alice.history if "au total" in m.plain]
        span = noted[-1].arrived - noted[0].arrived
        assert span >= 3.0, f"6 messages in {span:.2f} s: the per-chat pace is not applied"


async def test_fifty_citizens_at_once_every_item_stored_exactly_once(bot: RunningBot) -> None:
    citizens = [bot.hub.citizen() for _ in range(50)]

    async def play(index: int, citizen: Citizen) -> None:
        # Fifty chats' welcomes go out at the bot's global pace, beside other tests' work
        # (make test runs a few at once): the same 60 s as every later step.
        await at_first_question(citizen, within=60)
        for k in range(1, 4):
            await citizen.send(f"Idée {index}-{k}", f"({k} au total)", within=60)
        await citizen.press("Suivant")
        await citizen.expect(prompt("meurt"), within=60)
        await citizen.send(f"Fin {index}", "(1 au total)", within=60)

    await asyncio.wait_for(
        asyncio.gather(*(play(i, c) for i, c in enumerate(citizens))), timeout=90
    )
    rows = await bot.export()
    pourquoi = sorted(str(r["text"]) for r in rows if r["step"] == "pourquoi")
    meurt = sorted(str(r["text"]) for r in rows if r["step"] == "meurt")
    assert pourquoi == sorted(f"Idée {i}-{k}" for i in range(50) for k in range(1, 4))
    assert meurt == sorted(f"Fin {i}" for i in range(50))
    assert len({r["participant"] for r in rows}) == 50
    state = await bot.hub.state()
    pressed = [s["callback_query_id"] for c in citizens for s in c.sent if "pressed_on" in s]
    assert sorted(state["answered_callbacks"]) == sorted(pressed)
    assert len(pressed) == 100
