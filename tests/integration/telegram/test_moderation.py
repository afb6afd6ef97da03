"""/moderer on Telegram: the card's « Masquer » / « Garder » are inline buttons (emulator)."""

from __future__ import annotations

import pytest

from qn_bot.clock import utcnow
from qn_bot.domain import UserRef
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import RunningBot

pytestmark = pytest.mark.integration


async def test_moderer_hides_with_a_button(bot: RunningBot) -> None:
    alice, boss = bot.hub.citizen(), bot.hub.citizen()
    await alice.send(f"/start {SLUG}", CONSENT_QUESTION)
    await alice.send("oui", prompt("pourquoi"))
    await alice.send("Une idée à masquer", "(1 au total)")
    async with bot.app.store.transaction() as tx:
        await tx.facilitators.grant_facilitator(
            UserRef("telegram", str(boss.user_id)), "test", utcnow()
        )
    (card,) = await boss.send(f"/moderer {SLUG}", "Une idée à masquer")
    assert card.labels == ["Masquer", "Garder"]
    await boss.press("Masquer", on=card)
    await boss.expect("masquée", f"Plus rien à modérer dans {SLUG}.")
    assert [(r["text"], r["hidden"]) for r in await bot.export()] == [("Une idée à masquer", True)]
