"""A facilitator scoped to one campaign sees and acts on that campaign only, in every command;
and a group chat never receives a campaign's raw export."""

from __future__ import annotations

import itertools

import pytest

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.config import TeamConfig
from qn_bot.domain import Address, CampaignStatus, InboundKind, InboundMessage, UserRef
from qn_bot.flows.loader import load_flow_text
from qn_bot.records import CampaignRecord
from qn_bot.service import Service
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms

from .test_service import FLOW, PLATFORM, SLUG, Citizen, open_campaign

OTHER = "autre-2030"
TEAMS = (
    TeamConfig(name="equipe-mini", campaigns=(SLUG,)),
    TeamConfig(name="equipe-autre", campaigns=(OTHER,)),
    TeamConfig(name="equipe-deux", campaigns=(SLUG, OTHER)),
)


@pytest.fixture
def service(store: Store, clock: FixedClock, pseudonyms: Pseudonyms) -> Service:
    return Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:boss",), teams=TEAMS)


@pytest.fixture
async def campaigns(store: Store, clock: FixedClock) -> list[CampaignRecord]:
    mini = await open_campaign(store, clock)
    async with store.transaction() as tx:
        await create_campaign(
            tx,
            slug=OTHER,
            flow=load_flow_text(FLOW, "mini.toml"),
            title="Une autre campagne secrète",
            now=clock(),
        )
        other = await set_status(tx, OTHER, CampaignStatus.OPEN, clock())
        await tx.facilitators.grant_facilitator(
            UserRef(PLATFORM, "anim"), "test:boss", clock(), mini.id
        )
    return [mini, other]


async def test_a_scoped_facilitator_sees_only_their_campaign(
    service: Service, campaigns: list[CampaignRecord]
) -> None:
    anim = Citizen(service, "anim")
    listing = await anim.say("/campagnes")
    assert SLUG in listing
    assert OTHER not in listing
    assert "secrète" not in listing
    assert SLUG in await anim.say(f"/stats {SLUG}")
    await anim.say(f"/export {SLUG} json")
    assert anim.last[0].attachments

    for command in (
        f"/stats {OTHER}",
        f"/export {OTHER} json",
        f"/lancer {OTHER}",
        f"/cloturer {OTHER}",
        f"/relancer {OTHER}",
        "/digest equipe-autre",
        "/digest equipe-deux",
        f"/facilitateur ajouter test:x {SLUG}",
    ):
        text = await anim.say(command)
        assert "secrète" not in text, command
        assert "equipe-autre" not in text, command
        assert all(not reply.attachments for reply in anim.last), command
    # Out of scope reads exactly as missing: the answers tell nothing about the other campaign.
    assert (await anim.say(f"/stats {OTHER}")).replace(OTHER, "?") == (
        await anim.say("/stats inexistante")
    ).replace("inexistante", "?")
    assert await anim.say("/digest equipe-autre") == await anim.say("/digest inexistante")
    usage = await anim.say("/digest")
    assert "equipe-mini" in usage
    assert "equipe-autre" not in usage
    assert "equipe-deux" not in usage


async def test_an_admin_still_sees_everything(
    service: Service, campaigns: list[CampaignRecord]
) -> None:
    boss = Citizen(service, "boss")
    listing = await boss.say("/campagnes")
    assert SLUG in listing
    assert OTHER in listing
    assert "equipe-deux" in await boss.say("/digest")


_ids = itertools.count(1)


def in_group(user: str, text: str) -> InboundMessage:
    return InboundMessage(
        sender=UserRef(PLATFORM, user),
        address=Address(PLATFORM, "team-room"),
        message_id=f"group-{next(_ids)}",
        kind=InboundKind.TEXT,
        text=text,
        is_private=False,
    )


async def test_an_export_is_never_posted_in_a_group(
    service: Service, campaigns: list[CampaignRecord]
) -> None:
    alice = Citizen(service, "alice")
    await alice.say(f"/start {SLUG}")
    await alice.say("oui")
    await alice.say("une idée personnelle")
    result = await service.handle(in_group("boss", f"/export {SLUG} json"))
    assert result.replies
    assert all(not reply.attachments for reply in result.replies)
    assert "une idée personnelle" not in "\n".join(r.text for r in result.replies)
    assert "privé" in result.replies[0].text
    # The same facilitator gets it in private.
    boss = Citizen(service, "boss")
    await boss.say(f"/export {SLUG} json")
    assert b"une id" in boss.last[0].attachments[0].data
    # Counts are fine in a team room.
    assert SLUG in "\n".join(
        r.text for r in (await service.handle(in_group("boss", f"/stats {SLUG}"))).replies
    )
