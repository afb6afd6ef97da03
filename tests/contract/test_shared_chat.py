"""A citizen's private chat that gains a member (a Matrix direct chat someone is invited into):
no more answers collected there, nothing personal sent there, the citizen told once."""

from __future__ import annotations

import itertools
from dataclasses import replace

from qn_bot.domain import InboundKind, InboundMessage, OutboundMessage
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock

from .test_service import Citizen, item_texts, rows

_ids = itertools.count(1)


def shared(citizen: Citizen, sender: str = "carol") -> InboundMessage:
    msg = citizen.message(kind=InboundKind.SHARED, message_id=f"member-{next(_ids)}")
    return replace(msg, sender=replace(msg.sender, user_id=sender), is_private=False)


async def notices(store: Store, chat: str) -> list[str]:
    found = await rows(store, t.outbox, t.outbox.c.chat_id == chat)
    texts = [r.payload["text"] for r in found if r.payload is not None]  # failed: emptied
    return [text for text in texts if "plus privée" in text]


async def test_a_shared_chat_stops_collecting_and_says_why_once(
    store: Store, service: Service, campaign: CampaignRecord, clock: FixedClock
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    await alice.say("une idée à deux")
    # Something personal still waits to be sent there (a file, a reminder…).
    (participant,) = await rows(store, t.participants)
    async with store.transaction() as tx:
        await tx.outbox.enqueue(
            alice.address,
            OutboundMessage("votre fichier personnel"),
            clock(),
            participant_id=participant.id,
        )
    personal = max(r.id for r in await rows(store, t.outbox))

    result = await service.handle(shared(alice))
    assert "plus privée" in result.replies[0].text
    (participant,) = await rows(store, t.participants)
    assert participant.unreachable
    # Failed, and emptied as every message that will not be sent (retention).
    (row,) = [r for r in await rows(store, t.outbox) if r.id == personal]
    assert row.status == "failed"
    assert row.payload is None

    # What she types there now is not recorded; a second member is not a second notice.
    for msg in (
        shared(alice, "dave"),
        replace(alice.message("une idée devant Carol"), is_private=False),
    ):
        assert (await service.handle(msg)).replies == []
    assert await item_texts(store) == ["une idée à deux"]
    assert len(await notices(store, "chat-alice")) == 1

    # Back to two (or in another private chat): she is read, and reachable, again.
    assert "Noté (2 au total)" in await alice.say("une idée de nouveau à deux")
    (participant,) = await rows(store, t.participants)
    assert not participant.unreachable


async def test_a_message_in_a_chat_that_became_shared_unnoticed_is_the_same_signal(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    result = await service.handle(replace(alice.message("une idée"), is_private=False))
    assert "plus privée" in result.replies[0].text
    assert await item_texts(store) == []


async def test_a_group_gaining_members_concerns_nobody(
    store: Store, service: Service, campaign: CampaignRecord
) -> None:
    alice = Citizen(service, "alice")
    await alice.join()
    team = Citizen(service, "team")
    team.address = replace(team.address, chat_id="team-room")
    assert (await service.handle(shared(team))).replies == []
    (participant,) = await rows(store, t.participants)
    assert not participant.unreachable
