"""A /start in a group: the core decides it (qn_bot.rooms), then asks the platform for the
private chat through the port (``Adapter.open_private_chat``) and answers with its link.

The platform here is a few lines that keep the port's contract as the Matrix adapter does: it
may deliver the citizen's first private message to the core while it is being asked (a direct
chat they already have), so the core must ask before it takes the conversation's turn.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from qn_bot.domain import Address, InboundMessage, UserRef
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms

from .test_service import SLUG, Citizen, item_texts

LINK = "https://chat.example/direct-alice"


class Platform:
    """Opens a private chat by starting the campaign there, as Matrix does for a citizen
    who already has a direct chat with the bot."""

    def __init__(self, fail: bool = False) -> None:
        self.service: Service | None = None
        self.asked: list[tuple[UserRef, Address, str, str]] = []
        self.fail = fail

    async def open_private_chat(
        self, user: UserRef, group: Address, campaign: str, message_id: str
    ) -> str | None:
        self.asked.append((user, group, campaign, message_id))
        if self.fail:
            raise ConnectionError("the homeserver is away")
        assert self.service is not None
        direct = Citizen(self.service, user.user_id)
        await direct.send(direct.message(f"/start {campaign}", message_id=f"{message_id}:dm"))
        return LINK


@pytest.fixture
def platform() -> Platform:
    return Platform()


@pytest.fixture
def service(store: Store, clock: FixedClock, pseudonyms: Pseudonyms, platform: Platform) -> Service:
    service = Service(store, clock=clock, pseudonyms=pseudonyms, private_chats={"test": platform})
    platform.service = service
    return service


def in_group(citizen: Citizen, text: str) -> InboundMessage:
    msg = replace(citizen.message(text), is_private=False)
    return replace(msg, address=Address("test", "team-room"))


async def test_a_group_start_asks_the_platform_then_answers_with_its_link(
    service: Service, platform: Platform, campaign: CampaignRecord
) -> None:
    alice = Citizen(service, "alice")
    start = in_group(alice, f"/start {SLUG}")
    # The platform starts her private chat while it is asked: no deadlock with her turn.
    result = await asyncio.wait_for(service.handle(start), timeout=30)
    assert platform.asked == [(alice.user, start.address, SLUG, start.message_id)]
    (reply,) = result.replies
    assert LINK in reply.text
    assert "message privé" in reply.text
    # Her private chat started: she answers there.
    await alice.say("1")
    assert "Noté" in await alice.say("une idée")
    assert await item_texts(service.store) == ["une idée"]

    # Nothing else in a group asks the platform anything.
    for text in ["bonjour", "/suivant", "/stats", "1"]:
        await service.handle(in_group(Citizen(service, "bob"), text))
    assert len(platform.asked) == 1


async def test_a_platform_that_cannot_open_the_chat_still_gets_an_answer(
    service: Service, platform: Platform, campaign: CampaignRecord
) -> None:
    platform.fail = True
    result = await service.handle(in_group(Citizen(service, "alice"), "/start"))
    (reply,) = result.replies
    assert "message privé" in reply.text
    assert LINK not in reply.text
