"""SIGTERM to a real Matrix `qn-bot run` mid-flow: the sync stops, what was in hand is handled
and answered, the process exits in bounded time, and the next one loses and repeats nothing."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from qn_bot.app import STOP_WITHIN

from .flow import CONSENT

pytestmark = pytest.mark.integration


async def test_sigterm_mid_flow_then_restart_loses_and_repeats_nothing(
    make_bot, make_citizen
) -> None:
    bot = make_bot()
    alice = await make_citizen()
    room = await alice.open_dm(bot.user_id, encrypted=True)
    await alice.say(room, *CONSENT)
    await alice.say(room, "1", "Pourquoi tout va changer")
    before = [f"Idée {n} avant l'arrêt" for n in range(1, 4)]
    for text in before:
        await alice.send(room, text)
    await alice.expect(room, "Noté (1 au total)")

    assert bot.proc is not None
    stopping = time.monotonic()
    bot.proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        while "stopping:" not in bot.log():  # noqa: ASYNC110 - a file, nothing to wait on
            await asyncio.sleep(0.05)
    during = "Idée écrite pendant l'arrêt"
    await alice.send(room, during)  # the next process's to take
    code = await asyncio.to_thread(bot.proc.wait, STOP_WITHIN + 10)
    took = time.monotonic() - stopping
    assert code == 0, bot.log()
    assert took < STOP_WITHIN, f"stopped in {took:.1f} s"
    assert "Traceback" not in bot.log(), bot.log()
    # What it took is handled; a /sync cut short leaves its events to the next process; what
    # was written once the stop began is not taken.
    taken = [r["text"] for r in bot.export_json()]
    assert taken == before[: len(taken)], taken
    assert len(taken) >= 1

    bot.start()
    await alice.expect(room, "Noté (4 au total)", within=30)
    await alice.say(room, "Après le redémarrage", "Noté (5 au total)")
    await asyncio.sleep(2)  # let a message sent twice show up

    bodies = [m.body for m in alice.messages(room)]
    for count in range(1, 6):
        noted = [b for b in bodies if f"Noté ({count} au total)" in b]
        assert len(noted) == 1, f"reply for item {count} sent {len(noted)} times: {bodies}"
    assert [r["text"] for r in bot.export_json()] == [*before, during, "Après le redémarrage"]
    assert "restored device" in bot.log()
