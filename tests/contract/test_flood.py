"""Per-citizen flood limits, and replies that quote what a citizen typed (kept short).

A citizen sending faster than the sustained rate gets one "doucement" reply; what they send
while the rate stays too high is refused and stores nothing — typed text, button presses and
edits alike — until it drops. Other citizens are not slowed down.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from qn_bot.config import LimitsConfig
from qn_bot.domain import InboundKind
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms

from .test_service import Citizen, item_texts, rows, snapshot

SLOW_DOWN = "Doucement"
LIMITS = LimitsConfig(messages_per_window=6, window_seconds=10)


@pytest.fixture
def service(store: Store, clock: FixedClock, pseudonyms: Pseudonyms) -> Service:
    return Service(store, clock=clock, pseudonyms=pseudonyms, limits=LIMITS, admins=("test:boss",))


def without_notices(snap: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    return {k: v for k, v in snap.items() if k != "outbox"}


async def outbox_texts(store: Store, chat: str) -> list[str]:
    return [r.payload["text"] for r in await rows(store, t.outbox, t.outbox.c.chat_id == chat)]


async def test_a_flood_gets_one_reply_and_stores_nothing_until_the_rate_drops(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()  # two messages
    accepted = [f"idée {n}" for n in range(1, 5)]
    sent = [alice.message(text) for text in accepted]
    for msg in sent:  # four more: six within the window, the most it allows
        await alice.send(msg)
        assert "Noté" in alice.last[0].text

    before = await snapshot(store)
    notices_before = len(await outbox_texts(store, "chat-alice"))
    reply = await alice.say("idée de trop")
    assert SLOW_DOWN in reply
    assert len(alice.last) == 1
    # While she keeps going: silence, nothing stored — text, buttons, edits, commands.
    for msg in (
        alice.message("encore une"),
        alice.message(kind=InboundKind.CHOICE, choice_id="suivant"),
        replace(
            alice.message("idée 1 modifiée", kind=InboundKind.EDIT),
            target_message_id=sent[0].message_id,
        ),
        replace(alice.message(kind=InboundKind.DELETE), target_message_id=sent[1].message_id),
        alice.message("/mes_reponses"),
        alice.message("/suivant"),
    ):
        result = await alice.send(msg)
        assert result.refused
        assert result.replies == []
        clock.advance(seconds=0.5)
    assert without_notices(await snapshot(store)) == without_notices(before)
    texts = await outbox_texts(store, "chat-alice")
    assert len(texts) == notices_before + 1
    assert SLOW_DOWN in texts[-1]
    assert await item_texts(store) == accepted

    # She pauses; her next message is read again, and a new flood gets a new notice.
    clock.advance(seconds=15)
    assert "Noté (5 au total)" in await alice.say("idée 5")
    for n in range(6, 11):
        await alice.say(f"idée {n}")
    assert SLOW_DOWN in "\n".join((await outbox_texts(store, "chat-alice"))[notices_before + 1 :])


async def test_one_citizens_flood_does_not_slow_down_another(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice, bob = Citizen(service, "alice"), Citizen(service, "bob")
    await alice.join()
    await bob.join()
    for n in range(20):
        await alice.say(f"alice {n}")
    for n in range(4):
        assert "Noté" in await bob.say(f"bob {n}")


async def test_no_limit_without_limits(
    store: Store, campaign: CampaignRecord, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    service = Service(store, clock=clock, pseudonyms=pseudonyms)
    alice = Citizen(service, "alice")
    await alice.join()
    for n in range(30):
        assert "Noté" in await alice.say(f"idée {n}")


HUGE = 60_000


@pytest.mark.parametrize(
    ("who", "text"),
    [
        ("alice", "/start " + "x" * HUGE),
        ("alice", "/" + "a" * HUGE),
        ("alice", "/signer " + "Ana" * HUGE),
        ("alice", "/langue " + "z" * HUGE),
        ("alice", "idée " * HUGE),
        ("boss", "/export " + "y" * HUGE),
        ("boss", "/stats " + "y" * HUGE),
        ("boss", "/lancer " + "y" * HUGE),
        ("boss", "/facilitateur ajouter test:" + "u" * HUGE),
        ("boss", "/facilitateur ajouter test:anim " + "c" * HUGE),
        ("boss", "/digest " + "t" * HUGE),
    ],
)
async def test_replies_quote_what_was_typed_shortened(
    store: Store,
    campaign: CampaignRecord,
    clock: FixedClock,
    pseudonyms: Pseudonyms,
    who: str,
    text: str,
) -> None:
    service = Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",))
    citizen = Citizen(service, who)
    await citizen.join()
    await citizen.say(text)
    assert citizen.last
    for reply in citizen.last:
        assert len(reply.text) < 1000, reply.text[:200]
    for payload in await outbox_texts(store, f"chat-{who}"):
        assert len(payload) < 1000, payload[:200]
