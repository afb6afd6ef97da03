"""The reminder pass reads idle sessions one page at a time: everyone is reminded, once."""

from __future__ import annotations

from qn_bot.config import RemindersConfig
from qn_bot.reminders import send_due_reminders
from qn_bot.service import Service
from qn_bot.store.sql import Store
from tests.conftest import FixedClock
from tests.contract.test_lifecycle import message, new_campaign, outbox_texts, service

__all__ = ["service"]  # the fixture


async def test_a_pass_in_pages_reminds_everybody_once(
    store: Store, clock: FixedClock, service: Service
) -> None:
    config = RemindersConfig(delays_hours=(24,))
    await new_campaign(store, clock, "pages")
    users = [f"u{n}" for n in range(7)]
    for user in users:
        for text in ("/start pages", "1", "une idée"):
            await service.handle(message(user, text))
    clock.advance(hours=25)
    assert await send_due_reminders(store, config, clock(), page=3) == 7  # pages of 3, 3, 1
    assert await send_due_reminders(store, config, clock(), page=3) == 0
    for user in users:
        assert len([t for t in await outbox_texts(store, user) if "Vous aviez commencé" in t]) == 1
