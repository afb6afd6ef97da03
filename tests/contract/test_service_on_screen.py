"""What a message may answer, end to end through Service.handle on the real store.

A message answers only what was on screen when it arrived (adapters say when a message arrived:
``received_at``); the flow's conditions stay true in what is stored; a closed campaign's citizen
keeps every right. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.domain import Address, CampaignStatus, InboundKind, InboundMessage
from qn_bot.flows.loader import load_flow_text
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock
from tests.contract.test_service import (
    PLATFORM,
    SLUG,
    Citizen,
    export_json,
    item_texts,
    open_campaign,
    rows,
    snapshot,
)

NOT_ON_SCREEN = "avant que la question ne s’affiche"
CONSENT = "D'accord ?"
IDEAS = "Vos idées ?"

# A flow whose second question depends on the first (as Construire 2030's means do).
WHEN_FLOW = """
id = "moyens"
version = 1
languages = ["fr", "en"]
title = { fr = "Moyens", en = "Means" }

[[steps]]
id = "accord"
kind = "consent"
prompt = { fr = "D'accord ?", en = "Agree?" }

[[steps]]
id = "types"
kind = "multichoice"
prompt = { fr = "Quels moyens ?", en = "Which means?" }
choices = [
  { id = "lois", label = { fr = "Des lois", en = "Laws" } },
  { id = "argent", label = { fr = "De l'argent", en = "Money" } },
]

[[steps]]
id = "argent"
kind = "list"
when = "'argent' in types"
prompt = { fr = "Quel argent ?", en = "Which money?" }
section = { fr = "Financement", en = "Funding" }

[[steps]]
id = "fin"
kind = "list"
prompt = { fr = "Un dernier mot ?", en = "A last word?" }
section = { fr = "Fin", en = "End" }
"""


def arrived(msg: InboundMessage, at: datetime) -> InboundMessage:
    return dataclasses.replace(msg, received_at=at)


async def say_at(citizen: Citizen, text: str, at: datetime) -> str:
    result = await citizen.send(arrived(citizen.message(text), at))
    return "\n".join(r.text for r in result.replies)


async def consent_versions(store: Store) -> list[int | None]:
    return [s.consent_version for s in await rows(store, t.sessions)]


# ------------------------------------------------------------------ consent


async def test_a_first_message_oui_gets_the_consent_question_and_consents_to_nothing(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    bob = Citizen(service, "bob")
    first = await bob.say("oui")
    assert CONSENT in first
    assert "pas compris" not in first
    assert await consent_versions(store) == [None]
    clock.advance(seconds=5)
    assert IDEAS in await say_at(bob, "oui", clock())
    assert await consent_versions(store) == [2]


async def test_start_then_oui_read_in_one_poll_is_not_consent(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    """Both messages were received at once (one getUpdates, one sync): "oui" was written before
    the consent existed, so it cannot be consent."""
    bob = Citizen(service, "bob")
    polled = clock()
    clock.advance(seconds=1)
    assert CONSENT in await say_at(bob, f"/start {SLUG}", polled)
    clock.advance(seconds=1)
    reply = await say_at(bob, "oui", polled)
    assert NOT_ON_SCREEN in reply
    assert CONSENT in reply
    assert await consent_versions(store) == [None]
    assert {b.value for r in bob.last for b in r.buttons} == {"accept", "refuse"}
    clock.advance(seconds=1)
    assert IDEAS in await say_at(bob, "oui", clock())
    assert await consent_versions(store) == [2]


async def test_a_button_press_received_before_the_consent_was_shown_is_not_consent(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    bob = Citizen(service, "bob")
    # A forged or stale "accept" as the very first event: the consent is shown, not taken.
    shown = clock()
    reply = await bob.press("accept")
    assert CONSENT in reply
    assert await consent_versions(store) == [None]
    # A press received before that consent was on screen (a replay, a forged callback).
    clock.advance(seconds=1)
    early = bob.message(kind=InboundKind.CHOICE, choice_id="accept")
    result = await bob.send(arrived(early, shown - timedelta(seconds=1)))
    assert NOT_ON_SCREEN in "\n".join(r.text for r in result.replies)
    assert await consent_versions(store) == [None]


async def test_an_edit_of_a_first_message_into_oui_is_not_consent(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    bob = Citizen(service, "bob")
    first = bob.message("Bonjour")
    await bob.send(first)
    edit = bob.message("oui", kind=InboundKind.EDIT)
    await bob.send(dataclasses.replace(edit, target_message_id=first.message_id))
    assert await consent_versions(store) == [None]
    assert await rows(store, t.items) == []


async def test_a_second_campaign_entered_and_text_sent_before_its_consent(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    other = await open_campaign(store, clock, "autre-2030", "Autre")
    polled = clock()
    clock.advance(seconds=1)
    assert CONSENT in await say_at(alice, f"/start {other.slug}", polled)
    clock.advance(seconds=1)
    assert NOT_ON_SCREEN in await say_at(alice, "1", polled)
    sessions = {s.campaign_id: s.consent_version for s in await rows(store, t.sessions)}
    assert sessions == {campaign.id: 2, other.id: None}


async def test_the_batched_path_refuses_early_answers_as_the_general_path_does(
    store: Store,
    service: Service,
    campaign: CampaignRecord,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answered: list[int] = []
    real = service._batched

    async def spy(tx: Any, msgs: Any, results: list[Any]) -> None:
        await real(tx, msgs, results)
        answered.extend(n for n, r in enumerate(results) if r is not None)

    async def general_only(tx: Any, msgs: Any, results: list[Any]) -> None:
        del tx, msgs, results

    replies: dict[str, list[str]] = {}
    for user, path in (("alice", general_only), ("bob", spy)):
        citizen = Citizen(service, user)
        await citizen.join()
        await citizen.say("une idée")
        monkeypatch.setattr(service, "_batched", path)
        polled = clock()
        clock.advance(seconds=1)
        await say_at(citizen, "/suivant", polled)
        clock.advance(seconds=1)
        replies[user] = [await say_at(citizen, "mon mot", polled)]
        monkeypatch.undo()
    assert answered, "the early answer did not take the batched path"
    assert replies["alice"] == replies["bob"]
    assert NOT_ON_SCREEN in replies["bob"][0]
    assert await item_texts(store) == ["une idée", "une idée"]


# ------------------------------------------------------------------ pending questions


async def test_a_forget_confirmation_sent_before_the_question_erases_nothing(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say("je reste")
    polled = clock()
    clock.advance(seconds=1)
    assert "effacer" in await say_at(alice, "/oublier", polled)
    clock.advance(seconds=1)
    reply = await say_at(alice, "oui", polled)
    assert NOT_ON_SCREEN in reply
    assert {b.value for r in alice.last for b in r.buttons} == {"forget_yes", "forget_no"}
    (p,) = await rows(store, t.participants)
    assert p.pending_action == "forget"
    assert await item_texts(store) == ["je reste"]
    clock.advance(seconds=1)
    assert "effacé" in await say_at(alice, "oui", clock())
    assert await rows(store, t.participants) == []


async def test_a_campaign_number_sent_before_the_list_picks_nothing(
    store: Store, service: Service, clock: FixedClock
) -> None:
    await open_campaign(store, clock, "alpha-2030", "Alpha")
    await open_campaign(store, clock, "beta-2030", "Bêta")
    alice = Citizen(service, "alice")
    polled = clock()
    clock.advance(seconds=1)
    await say_at(alice, "/start", polled)
    assert [b.label for b in alice.last[-1].buttons] == ["Alpha", "Bêta"]
    clock.advance(seconds=1)
    reply = await say_at(alice, "2", polled)
    assert NOT_ON_SCREEN in reply
    assert [b.label for b in alice.last[-1].buttons] == ["Alpha", "Bêta"]
    assert await rows(store, t.sessions) == []
    clock.advance(seconds=1)
    assert CONSENT in await say_at(alice, "2", clock())


# ------------------------------------------------------------------ conditions


async def test_items_of_an_unticked_option_are_withdrawn_everywhere(
    store: Store, service: Service, clock: FixedClock
) -> None:
    async with store.transaction() as tx:
        flow = load_flow_text(WHEN_FLOW, "moyens.toml")
        await create_campaign(tx, slug="moyens", flow=flow, title="Moyens", now=clock())
        await set_status(tx, "moyens", CampaignStatus.OPEN, clock())
    alice = Citizen(service, "alice")
    await alice.say("/start moyens")
    assert "Quels moyens ?" in await alice.say("oui")
    assert "Quel argent ?" in await alice.say("1, 2")
    await alice.say("Budgets participatifs")
    await alice.say("/suivant")
    await alice.say("/suivant")  # the last word: nothing
    await alice.say("/mes_reponses")  # (the final review is on screen already)
    await alice.press(alice.button("✏️ 1"))  # the review numbers the answers
    clock.advance(minutes=1)
    review = await alice.say("1")  # laws only
    assert "Budgets participatifs" not in review
    assert await item_texts(store, "moyens") == ["Des lois"]
    (money,) = [i for i in await rows(store, t.items) if i.step_id == "argent"]
    assert money.deleted_at is not None
    revisions = await rows(store, t.item_revisions, t.item_revisions.c.item_id == money.id)
    assert [(r.revision, r.deleted) for r in revisions] == [(1, False), (2, True)]
    assert [r["text"] for r in await export_json(store, clock, "moyens")] == ["Des lois"]


# ------------------------------------------------------------------ closed campaigns


@pytest.mark.parametrize("status", [CampaignStatus.CLOSED, CampaignStatus.ARCHIVED])
async def test_a_closed_campaign_keeps_every_right_and_changes_nothing(
    store: Store,
    service: Service,
    campaign: CampaignRecord,
    clock: FixedClock,
    status: CampaignStatus,
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    source = alice.message("avant la clôture")
    await alice.send(source)
    async with store.transaction() as tx:
        await set_status(tx, SLUG, CampaignStatus.CLOSED, clock())
        if status is CampaignStatus.ARCHIVED:
            await set_status(tx, SLUG, CampaignStatus.ARCHIVED, clock())
        # Another campaign is open meanwhile: nothing here may lead into it.
        await create_campaign(
            tx,
            slug="suivante",
            flow=load_flow_text(WHEN_FLOW, "m.toml"),
            title="Suite",
            now=clock(),
        )
        await set_status(tx, "suivante", CampaignStatus.OPEN, clock())

    def unchanged(snap: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in snap.items() if k not in ("processed_messages", "outbox")}

    before = unchanged(await snapshot(store))
    review = await alice.say("/mes_reponses")
    assert "avant la clôture" in review
    assert "ne peuvent plus être modifiées" in review
    assert not any(r.buttons for r in alice.last), "a closed review offers nothing to change"
    assert CONSENT not in review
    for attempt in ("1", "/suivant", "/retour", "une idée de plus"):
        assert "close" in await alice.say(attempt), attempt
    await alice.press("item:1")
    assert "close" in "\n".join(r.text for r in alice.last)
    edit = alice.message("modifié après la clôture", kind=InboundKind.EDIT)
    result = await alice.send(dataclasses.replace(edit, target_message_id=source.message_id))
    assert "close" in "\n".join(r.text for r in result.replies)
    assert "Commandes" in await alice.say("/aide")
    assert unchanged(await snapshot(store)) == before

    assert "English" in await alice.say("/langue en")
    assert "closed" in await alice.say("/mes_reponses")  # in the new language
    assert "no more messages" in await alice.say("/stop")
    resumed = await alice.say("/reprendre")
    assert "closed" in resumed
    assert "carry on" not in resumed
    (p,) = await rows(store, t.participants)
    assert (p.language, p.stopped, p.active_campaign_id) == ("en", False, campaign.id)

    await alice.say("/mes_donnees")
    (attachment,) = alice.last[0].attachments
    assert [a["text"] for a in json.loads(attachment.data)["answers"]] == ["avant la clôture"]
    await alice.say("/oublier")
    assert "erased" in await alice.press("forget_yes")
    assert await rows(store, t.participants) == []


async def test_start_after_close_with_nothing_open_says_the_campaign_is_closed(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    async with store.transaction() as tx:
        await set_status(tx, SLUG, CampaignStatus.CLOSED, clock())
    assert "close" in await alice.say("/start")


async def test_a_chat_that_never_showed_the_question_does_not_answer_it(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    """The same person in another chat (a second Matrix direct chat) has not seen there what
    the bot asked elsewhere: the question is shown in that chat first."""
    bob = Citizen(service, "bob")
    assert CONSENT in await bob.say(f"/start {SLUG}")
    elsewhere = Address(PLATFORM, "chat-bob-2")
    first = dataclasses.replace(bob.message("oui"), address=elsewhere)
    reply = "\n".join(r.text for r in (await bob.send(first)).replies)
    assert CONSENT in reply
    assert await consent_versions(store) == [None]
    assert {r.chat_id for r in await rows(store, t.outbox)} == {"chat-bob", "chat-bob-2"}
    # Shown there now: the next answer from that chat counts.
    again = dataclasses.replace(bob.message("oui"), address=elsewhere)
    assert IDEAS in "\n".join(r.text for r in (await bob.send(again)).replies)
    assert await consent_versions(store) == [2]


async def test_after_a_campaign_switch_text_sent_with_the_switch_answers_nothing(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    """Back to a campaign left for another: its question is on screen again only once shown
    again; what was sent with "/start" did not answer it."""
    alice = Citizen(service, "alice")
    await alice.join()
    other = await open_campaign(store, clock, "autre-2030", "Autre")
    clock.advance(seconds=1)
    assert CONSENT in await say_at(alice, f"/start {other.slug}", clock())
    polled = clock()
    clock.advance(seconds=1)
    assert IDEAS in await say_at(alice, f"/start {SLUG}", polled)
    clock.advance(seconds=1)
    assert NOT_ON_SCREEN in await say_at(alice, "une idée", polled)
    assert await item_texts(store) == []
    clock.advance(seconds=1)
    assert "Noté" in await say_at(alice, "une idée", clock())
