"""/signaler through its hook, /moderer with buttons, and telling the author, at the service
level (SQLite, PostgreSQL)."""

from __future__ import annotations

from qn_bot.config import ModerationConfig
from qn_bot.moderation import shown_to
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.store_helpers import count
from tests.contract.test_erasure import outbox_rows
from tests.contract.test_service import SLUG, Citizen


async def test_signaler_flags_the_item_on_screen_and_moderer_decides_by_button(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms, campaign: CampaignRecord
) -> None:
    service = Service(
        store,
        clock=clock,
        pseudonyms=pseudonyms,
        admins=("test:boss",),
        moderation=ModerationConfig(tell_author=True),
    )
    ada, bob, boss = Citizen(service, "ada"), Citizen(service, "bob"), Citizen(service, "boss")
    await ada.join()
    await ada.say("Une idée déplacée")
    await ada.say("Une idée récente")
    await bob.join()
    assert "Rien à signaler" in await bob.say("/signaler")  # nothing shown to him yet
    async with store.transaction() as tx:
        items = await tx.moderation.items(campaign.id)
        rude = next(i for i in items if "déplacée" in i.text)
        reader = await tx.participants.participant(bob.user)
        assert reader is not None
        # What a voting card or a recap will do when it shows Bob Ada's words.
        await shown_to(tx, reader, rude.id, clock())
    assert "Merci" in await bob.say("/signaler")
    assert "déjà signalé" in await bob.say("/report")
    async with store.transaction() as tx:
        assert await count(tx, t.item_flags) == 1

    card = await boss.say(f"/moderer {SLUG}")
    assert "Une idée déplacée" in card  # flagged first, though older
    assert "Signalée par 1 personne." in card
    assert f"#{rude.id}" in card
    assert "masquée" in await boss.press(boss.button("Masquer"))
    assert "Une idée récente" in "\n".join(r.text for r in boss.last)  # the next one
    assert "gardée" in await boss.press(boss.button("Garder"))
    assert "Plus rien à modérer" in "\n".join(r.text for r in boss.last)
    # "1" now answers the flow again, not a card: nothing was decided by it.
    async with store.transaction() as tx:
        acts = await tx.moderation.acts(campaign.id)
    assert [a.action for a in acts] == ["show", "hide", "flag"]
    assert acts[1].actor.startswith("facilitator:")
    assert acts[2].actor.startswith("citizen:")
    # The author is told once, in her language; she still sees it as hers.
    told = [
        r
        for r in await outbox_rows(store, t.outbox.c.chat_id == ada.address.chat_id)
        if "masquée par l’équipe d’animation" in r.payload["text"]
    ]
    assert len(told) == 1
    assert "Une idée déplacée" in await ada.say("/mes_reponses")


async def test_moderer_is_refused_to_citizens(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms, campaign: CampaignRecord
) -> None:
    service = Service(store, clock=clock, pseudonyms=pseudonyms)
    citizen = Citizen(service, "curieux")
    assert "réservée" in await citizen.say(f"/moderer {SLUG}")
