"""The `[telegram]` pacing keys reach the adapter's pacer and the outbox's pace; the pacer
keeps every second within the bot's limit."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from qn_bot.adapters.telegram import Limits, TelegramAdapter, TelegramSettings
from qn_bot.adapters.telegram.pacing import Pacer

from qn_bot.config import Config


class MemoryKV:
    async def get(self, key: str) -> object:
        return None

    async def set(self, key: str, value: object) -> None:
        return None


def telegram(**keys: object) -> Config:
    return Config.model_validate({"telegram": {"token": "1:TEST", **keys}})


def test_defaults_are_telegrams_limits() -> None:
    settings = TelegramSettings.from_config(telegram())
    assert settings is not None
    assert settings.limits == Limits()


def test_keys_reach_the_pacer_and_the_outbox_pace() -> None:
    config = telegram(
        messages_per_second=25,
        chat_messages_per_second=0.5,
        chat_burst=2,
        group_messages_per_minute=10,
    )
    settings = TelegramSettings.from_config(config)
    assert settings is not None
    adapter = TelegramAdapter(settings, MemoryKV())
    assert adapter.pacer.limits == Limits(
        per_bot_per_second=25.0,
        per_chat_per_second=0.5,
        chat_burst=2,
        per_group_per_minute=10.0,
    )
    # The outbox worker paces each platform from its declared capabilities.
    assert adapter.capabilities.messages_per_second == 25.0


@pytest.mark.parametrize(
    "key",
    ["messages_per_second", "chat_messages_per_second", "group_messages_per_minute", "chat_burst"],
)
def test_a_pace_must_be_positive(key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        telegram(**{key: 0})


async def test_no_second_holds_more_than_the_bot_limit() -> None:
    """No one-second window holds more than the bot's rate (Telegram would answer 429)."""
    pacer = Pacer(Limits(per_bot_per_second=20.0))
    loop = asyncio.get_running_loop()
    sent: list[float] = []
    for chat in range(30):  # one message to each of many chats, as an invitation is
        await pacer.wait(str(chat))
        sent.append(loop.time())
    busiest = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert busiest <= 20
