"""Recaps on Telegram (the Bot API emulator): /bilan in the chat, and a wave's recaps delivered
through the outbox to every citizen who gave an idea, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qn_bot.clock import utcnow
from qn_bot.config import SiteConfig
from qn_bot.recap.send import manual_wave, send_campaign_wave
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import RunningBot, running_bot, telegram_config
from tests.integration.telegram.harness import Emulator

pytestmark = pytest.mark.integration

SITE = SiteConfig(min_respondents=2, base_url="https://example.org/synthese")
IDEAS = (
    "Des pistes cyclables partout",
    "Des pistes cyclables sûres",
    "Des pistes cyclables pour les vélos",
)


@pytest.fixture
async def bot(emulator: Emulator, tmp_path: Path, migrated_url: str) -> AsyncIterator[RunningBot]:
    config = telegram_config(emulator, tmp_path, database_url=migrated_url)
    async with running_bot(config.model_copy(update={"site": SITE})) as running:
        async with running.app.store.transaction() as tx:
            campaign = await tx.campaigns.campaign_by_slug(SLUG)
            assert campaign is not None
            await tx.campaigns.set_campaign_min_respondents(campaign.id, 2)
        yield running


async def test_bilan_and_a_wave_of_recaps_on_telegram(bot: RunningBot) -> None:
    citizens = []
    for idea in IDEAS:
        citizen = bot.hub.citizen()
        await citizen.send(f"/start {SLUG}", CONSENT_QUESTION)
        await citizen.send("oui", prompt("pourquoi"))
        await citizen.send(idea, "(1 au total)")
        citizens.append(citizen)
    alice = citizens[0]
    (recap,) = await alice.send("/bilan", "Votre bilan")
    assert "«\u00a0Des pistes cyclables partout\u00a0»" in recap.plain
    assert "2 autres personnes ont exprimé une idée proche" in recap.plain
    assert f"https://example.org/synthese/{SLUG}.html" in recap.plain

    now = utcnow()
    result = await send_campaign_wave(bot.app.store, bot.config, SLUG, manual_wave(now), now)
    assert result.queued == 3
    bot.app.worker.notify()
    for citizen in citizens:
        await citizen.expect("📬 Votre bilan")
    again = await send_campaign_wave(bot.app.store, bot.config, SLUG, manual_wave(now), now)
    assert (again.queued, again.already) == (0, 3)
    for citizen in citizens:
        assert await citizen.settle(0.3) == []
