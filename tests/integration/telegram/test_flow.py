"""The Construire 2030 flow in Telegram: buttons, typed labels, deep links, command menu."""

from __future__ import annotations

import pytest

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.clock import utcnow
from qn_bot.domain import CampaignStatus
from qn_bot.flows.loader import resolve_flow
from tests.integration.construire import (
    CONSENT_QUESTION,
    LIST_STEPS,
    THANKS,
    VALIDATE,
    choice_labels,
    prompt,
)
from tests.integration.processes import SLUG
from tests.integration.telegram.conftest import RunningBot
from tests.integration.telegram.harness import Citizen

pytestmark = pytest.mark.integration

ITEMS: dict[str, list[str]] = {
    "pourquoi": ["Révolution numérique", "Accélérateur de transition"],
    "meurt": ["Pouvoir vertical sans tenir compte de l’horizontalité des jeux d’acteurs"],
    "dysfonctionne": ["Les temps longs de décision"],
    "nait": ["Devient légitime celui qui fait"],
    "horizons": ["Ville apprenante", "Complexité assumée"],
    "moyens_juridiques": ["Régulations intelligentes"],
    "moyens_politico_techniques": [],
    "moyens_lexicaux": [],
    "moyens_financement": ["Plasticité"],
    "moyens_economiques": [],
    "acteurs": ["Des enfants ?"],
}
MOYENS_PICKED = ("moyens_juridiques", "moyens_financement")


def items_of(rows: list[dict[str, object]], step: str) -> list[object]:
    return [row["text"] for row in rows if row["step"] == step]


async def play_whole_flow(alice: Citizen, *, typed: bool) -> None:
    """Consent, every list step, the means multichoice and the final validation; with buttons,
    or (typed=True) typing the labels and commands instead."""
    await alice.send(f"/start {SLUG}", CONSENT_QUESTION)
    if typed:
        await alice.send("J'accepte", prompt("pourquoi"))
    else:
        await alice.press("J’accepte")
        await alice.expect(prompt("pourquoi"))
    labels = choice_labels("moyens_types")
    for step in LIST_STEPS:
        if step == "moyens_juridiques":
            if typed:
                await alice.send("1, 4", prompt("moyens_juridiques"))
            else:
                await alice.press(labels[0])
                await alice.expect("Sélection")
                await alice.press(labels[3])
                await alice.expect(labels[3])
                await alice.press("Valider")
                await alice.expect(prompt("moyens_juridiques"))
        if step.startswith("moyens_") and step not in MOYENS_PICKED:
            continue
        for count, item in enumerate(ITEMS[step], start=1):
            await alice.send(item, f"({count} au total)")
        if typed:
            await alice.say("/suivant")
        else:
            await alice.press("Suivant")
        await alice.expect("Voici vos réponses" if step == "acteurs" else "?")
    if typed:
        await alice.send(VALIDATE, THANKS)
    else:
        await alice.press(VALIDATE)
        await alice.expect(THANKS)


async def check_stored(bot: RunningBot, participants: int) -> None:
    rows = await bot.export()
    for step in LIST_STEPS:
        assert items_of(rows, step) == ITEMS[step] * participants, step
    choices = items_of(rows, "moyens_types")
    assert len(choices) == participants
    labels = choice_labels("moyens_types")
    assert all(labels[0] in str(c) and labels[3] in str(c) for c in choices)


async def test_whole_flow_with_buttons(bot: RunningBot) -> None:
    alice = bot.hub.citizen()
    await play_whole_flow(alice, typed=False)
    await check_stored(bot, 1)

    # Every button press was answered, and every pressed keyboard was taken away.
    state = await bot.hub.state()
    pressed = [sent["callback_query_id"] for sent in alice.sent if "callback_query_id" in sent]
    assert len(pressed) == 13
    assert sorted(state["answered_callbacks"]) == sorted(pressed)
    for message_id in {sent["pressed_on"] for sent in alice.sent if "pressed_on" in sent}:
        current = await bot.hub.message(alice.chat_id, message_id)
        assert current.get("reply_markup") is None, current
        assert current["edits"] == 1
    assert state["calls"]["editMessageReplyMarkup"] == len(pressed)


async def test_whole_flow_typing_labels_and_commands(bot: RunningBot) -> None:
    bob = bot.hub.citizen()
    await play_whole_flow(bob, typed=True)
    await check_stored(bot, 1)
    assert (await bot.hub.state())["answered_callbacks"] == []


async def test_command_menu_in_french_and_english(bot: RunningBot) -> None:
    commands = (await bot.hub.state())["commands"]
    french = {c["command"] for c in commands["fr"]}
    english = {c["command"] for c in commands["en"]}
    assert {"start", "suivant", "retour", "aide", "mes_donnees", "oublier"} <= french
    assert {"start", "next", "back", "help", "my_data", "forget"} <= english
    assert commands[""] == commands["fr"]  # French is the default language
    assert all(c["description"] for c in commands["fr"] + commands["en"])


async def test_english_speaker_gets_english_and_bare_start_lists_open_campaigns(
    bot: RunningBot,
) -> None:
    async with bot.app.store.transaction() as tx:
        await create_campaign(
            tx,
            slug="ville-2040",
            flow=resolve_flow("construire-2030"),
            title="Ville 2040",
            edition=None,
            now=utcnow(),
        )
        await set_status(tx, "ville-2040", CampaignStatus.OPEN, utcnow())
    jane = bot.hub.citizen(language="en")
    (listing,) = await jane.send("/start", "Ville 2040")
    assert "Construire 2030" in listing.labels
    assert "Ville 2040" in listing.labels
    await jane.press("Ville 2040")
    await jane.expect("Welcome!", "Do you agree?", "I agree")
    await jane.press("I agree")
    await jane.expect("/next")


async def test_my_data_comes_as_a_json_document(bot: RunningBot) -> None:
    alice = bot.hub.citizen()
    await alice.send(f"/start {SLUG}", CONSENT_QUESTION)
    await alice.press("J’accepte")
    await alice.expect(prompt("pourquoi"))
    await alice.say("/mes_donnees")
    await bot.hub.wait(lambda: any(m.document for m in alice.history))
    document = next(m.document for m in alice.history if m.document)
    assert document is not None
    assert document["file_name"] == "mes_donnees.json"
    assert document["mime_type"] == "application/json"
    assert document["file_size"] > 50
