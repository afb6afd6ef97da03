"""/campagnes, /stats and /relancer speak the facilitator's language: statuses as words, sections
by their titles in the order of the flow, and what a reminder run left out, and until when."""

from __future__ import annotations

from qn_bot.flows.loader import resolve_flow
from qn_bot.service import Service
from qn_bot.store.sql import Store
from qn_bot.synthesis import step_heading
from tests.conftest import FixedClock
from tests.contract.test_lifecycle import message, new_campaign, service

__all__ = ["service"]  # the fixture


async def say(service: Service, user: str, text: str) -> str:
    return "\n".join(r.text for r in (await service.handle(message(user, text))).replies)


async def test_campaigns_and_status_changes_name_statuses_in_french(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(store, clock, "ouverte-ici")
    await new_campaign(store, clock, "pas-encore", open_now=False)
    listing = await say(service, "admin", "/campagnes")
    assert "ouverte-ici — Titre ouverte-ici [ouverte]" in listing
    assert "pas-encore — Titre pas-encore [brouillon]" in listing
    assert "open" not in listing
    assert "draft" not in listing
    closed = await say(service, "admin", "/cloturer ouverte-ici")
    assert closed == "Campagne ouverte-ici\u00a0: clôturée."
    await say(service, "admin", "/langue en")
    assert "[closed]" in await say(service, "admin", "/campaigns")


async def test_stats_shows_section_titles_in_flow_order_with_real_plurals(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(store, clock, "ordre")
    for text in ("/start ordre", "1", "une idée", "/suivant", "ce qui meurt", "et ceci"):
        await say(service, "ana", text)
    stats = await say(service, "admin", "/stats ordre")
    lines = stats.splitlines()
    assert lines[0].startswith("Campagne ordre\u00a0: 1 participant (1 aujourd’hui"), stats
    assert "0 parcours terminé." in lines[0], stats
    flow = resolve_flow("construire-2030")
    assert lines[1:] == [
        f"• {step_heading(flow.step('pourquoi'), 'fr')}\u00a0: 1 / 1 / 1",  # before "meurt"
        f"• {step_heading(flow.step('meurt'), 'fr')}\u00a0: 2 / 2 / 2",
    ]
    assert lines[2] == "• Ce qui meurt\u00a0: 2 / 2 / 2"
    assert "(s)" not in stats


async def test_relancer_says_what_goes_now_what_waits_and_until_when(
    store: Store, clock: FixedClock, service: Service
) -> None:
    async def start(*users: str) -> None:
        for user in users:
            for text in ("/start calme", "1"):
                await say(service, user, text)

    await new_campaign(store, clock, "calme")
    await start("ana", "ben", "cat", "dan")
    await say(service, "cat", "/stop")
    await say(service, "dan", "/stop")
    assert await say(service, "admin", "/relancer calme") == (
        "2 relances partent maintenant. 2 personnes ont demandé /stop\u00a0: aucune relance."
    )
    clock.advance(hours=11)  # 22:00 in Paris: quiet hours until 9:00
    await start("eve")
    assert await say(service, "admin", "/relancer calme") == (
        "3 relances partiront demain à 9\u00a0h\u00a000 (heures calmes). "
        "2 personnes ont demandé /stop\u00a0: aucune relance."
    )
    await say(service, "admin", "/langue en")
    clock.advance(hours=3)  # 1:00 in Paris
    await start("fay")
    assert await say(service, "admin", "/relancer calme") == (
        "1 reminder will go at 9:00 (quiet hours). "
        "3 people already have a reminder waiting or got one less than an hour ago: "
        "no second one. "
        "2 people asked for /stop: no reminder."
    )


async def test_relancer_without_anyone_mid_flow_says_so(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(store, clock, "vide")
    assert await say(service, "admin", "/relancer vide") == (
        "Personne n’a de parcours en cours dans cette campagne\u00a0: aucune relance."
    )
