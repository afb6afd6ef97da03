"""Flood limits through a real Telegram emulator and the real application wiring ([limits])."""

from __future__ import annotations

from pathlib import Path

import pytest

from qn_bot.config import LimitsConfig
from tests.integration.construire import prompt
from tests.integration.telegram.conftest import running_bot, telegram_config
from tests.integration.telegram.harness import Emulator

from .test_messages import at_first_question, stored

pytestmark = pytest.mark.integration

# Six messages, then a drain so slow (one per 20 s) that nothing else fits during the test.
LIMITS = LimitsConfig(messages_per_window=6, window_seconds=120)


async def test_a_flooding_citizen_is_told_once_and_nothing_beyond_the_limit_is_stored(
    emulator: Emulator, tmp_path: Path, database_url: str
) -> None:
    config = telegram_config(emulator, tmp_path, database_url=database_url)
    config = config.model_copy(update={"limits": LIMITS})
    async with running_bot(config) as bot:
        alice, bob = bot.hub.citizen(), bot.hub.citizen()
        await at_first_question(alice)  # /start and a button press: two messages
        keyboard = alice.last_keyboard()
        ideas = [f"Idée {n}" for n in range(1, 16)]
        for idea in ideas:  # as fast as the emulator takes them, no waiting for answers
            await alice.say(idea)
        await alice.press_data(keyboard, "k:suivant")  # a button in the flood: refused too
        got = await alice.settle(1.0)
        slow_down = [m for m in got if "Doucement" in m.plain]
        assert len(slow_down) == 1, alice.transcript(True)
        assert await stored(bot) == ideas[:4]
        assert not any(prompt("meurt") in m.plain for m in got)
        assert sum("au total" in m.plain for m in got) == 4

        # Someone else is not slowed down by Alice.
        await at_first_question(bob)
        await bob.send("L'idée de Bob", "(1 au total)")
