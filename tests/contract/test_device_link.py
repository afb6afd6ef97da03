"""/lien (issue 17): a core command. The platform makes the link through the adapter port's
hook (Adapter.device_link); a platform without one is told its chat already follows them."""

from __future__ import annotations

from qn_bot.domain import UserRef
from qn_bot.ports import DeviceLink
from qn_bot.service import Service
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_service import PLATFORM, Citizen, open_campaign


class Links:
    """A platform's device links, as an adapter gives them."""

    def __init__(self) -> None:
        self.asked: list[tuple[UserRef, str]] = []

    async def device_link(self, user: UserRef, message_id: str) -> DeviceLink | None:
        self.asked.append((user, message_id))
        return DeviceLink(f"https://chat.example.org/j/{len(self.asked)}", minutes=15)


async def test_lien_gives_the_platforms_link_and_is_listed_by_aide(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    await open_campaign(store, clock)
    links = Links()
    service = Service(store, clock=clock, pseudonyms=pseudonyms, device_links={PLATFORM: links})
    anne = Citizen(service, "anne")
    await anne.join()
    said = await anne.say("/lien")
    assert "https://chat.example.org/j/1" in said
    assert "15\u00a0minutes" in said
    assert [user for user, _ in links.asked] == [anne.user]
    assert "/lien" in await anne.say("/aide")
    english = await anne.say("/link")  # the English alias, same command
    assert "https://chat.example.org/j/2" in english


async def test_lien_without_a_hook_says_the_chat_already_follows_them(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    await open_campaign(store, clock)
    anne = Citizen(Service(store, clock=clock, pseudonyms=pseudonyms), "anne")
    await anne.join()
    said = await anne.say("/lien")
    assert "appareils" in said
    assert "http" not in said
