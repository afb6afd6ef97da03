"""The reminder pass reads idle sessions one page at a time: everyone is reminded, once."""

from __future__ import annotations

import pytest

from qn_bot import reminders
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


async def test_relancer_in_pages_reminds_every_mid_flow_citizen_once(
    store: Store, clock: FixedClock, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reminders, "PAGE", 2)
    config = RemindersConfig()  # the fixed clock reads 11:00 in Paris: not quiet hours
    await new_campaign(store, clock, "relance")
    users = [f"r{n}" for n in range(5)]
    for user in users:
        for text in ("/start relance", "1"):
            await service.handle(message(user, text))
    await service.handle(message("r2", "/stop"))
    async with store.transaction() as tx:
        campaign = await tx.campaigns.campaign_by_slug("relance")
        assert campaign is not None
        done = await reminders.remind_campaign_now(tx, campaign.id, "Relance", config, clock())
    assert done.queued == 4  # pages of 2, 2, 1 (r2 said /stop)
    for user in users:
        got = [t for t in await outbox_texts(store, user) if "Vous aviez commencé" in t]
        assert len(got) == (0 if user == "r2" else 1)
