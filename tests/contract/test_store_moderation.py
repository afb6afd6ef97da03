"""The storage contract of moderation (qn_bot/store/moderation.py) on every backend: decisions,
flags, the audit trail across a restart, and every public read of items leaving out what is
not public (hidden; under pre-moderation, not approved)."""

from __future__ import annotations

from contextlib import aclosing
from datetime import timedelta

from qn_bot.domain import Moderation, UserRef
from qn_bot.records import CampaignRecord
from qn_bot.repositories import Transaction
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import PLATFORM, count, make_campaign, make_participant

LATER = T0 + timedelta(hours=1)


async def _items(tx: Transaction, campaign: CampaignRecord, person: int, *texts: str) -> list[int]:
    """One item per text in a session of ``person``; their ids, in order."""
    session = await tx.sessions.save_session(
        person, campaign.id, {}, T0, status="active", step_id="idees"
    )
    await tx.sessions.record_consent(session, 1, T0)
    for seq, text in enumerate(texts, start=1):
        await tx.sessions.add_item(
            session_id=session,
            campaign_id=campaign.id,
            participant_id=person,
            seq=seq,
            step_id="idees",
            text=text,
            value=None,
            now=T0 + timedelta(minutes=seq),
        )
    listed = await tx.moderation.items(campaign.id)
    return sorted(i.id for i in listed if i.participant_id == person)


async def test_hide_and_show_are_listed_with_their_audit_trail_after_a_restart(
    migrated_url: str,
) -> None:
    async with Store.from_url(migrated_url) as store, store.transaction() as tx:
        campaign = await make_campaign(tx)
        alice = await make_participant(tx, "alice", "P-A")
        first, second, third = await _items(tx, campaign, alice.id, "un", "deux", "trois")
        await tx.moderation.decide(campaign.id, [second, third], "hide", "cli", LATER)
        await tx.moderation.decide(campaign.id, [third], "show", "F-pseudo", LATER)
    async with Store.from_url(migrated_url) as store, store.transaction() as tx:
        listed = await tx.moderation.items(campaign.id)
        assert [(i.id, i.text, i.state, i.public) for i in listed] == [
            (third, "trois", "shown", True),
            (second, "deux", "hidden", False),
            (first, "un", None, True),
        ]
        assert [i.id for i in await tx.moderation.items(campaign.id, hidden_only=True)] == [second]
        acts = await tx.moderation.acts(campaign.id)
        assert [(a.item_id, a.action, a.actor, a.at) for a in acts] == [
            (third, "show", "F-pseudo", LATER),
            (third, "hide", "cli", LATER),
            (second, "hide", "cli", LATER),
        ]
        assert await tx.moderation.not_public(campaign.id) == {second}


async def test_under_pre_moderation_only_approved_items_are_public(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx, moderation=Moderation.PRE)
        assert campaign.moderation is Moderation.PRE
        alice = await make_participant(tx, "alice", "P-A")
        first, second = await _items(tx, campaign, alice.id, "un", "deux")
        await tx.moderation.decide(campaign.id, [first], "show", "cli", LATER)
        assert await tx.moderation.not_public(campaign.id) == {second}
        assert [i.text for i in await tx.sessions.campaign_items(campaign.id)] == ["un"]
        await tx.campaigns.set_campaign_moderation(campaign.id, Moderation.POST)
        assert [i.text for i in await tx.sessions.campaign_items(campaign.id)] == ["un", "deux"]


async def test_flags_once_per_citizen_and_the_queue_shows_flagged_then_newest(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        alice = await make_participant(tx, "alice", "P-A")
        bob = await make_participant(tx, "bob", "P-B")
        old, new = await _items(tx, campaign, alice.id, "ancien", "récent")
        queued = await tx.moderation.next_to_moderate(campaign.id)
        assert queued is not None
        assert queued.id == new
        assert await tx.moderation.flag(campaign.id, old, bob.id, "P-B", LATER)
        assert not await tx.moderation.flag(campaign.id, old, bob.id, "P-B", LATER)
        queued = await tx.moderation.next_to_moderate(campaign.id)
        assert queued is not None
        assert (queued.id, queued.flags) == (old, 1)
        await tx.moderation.decide(campaign.id, [old], "show", "cli", LATER)
        queued = await tx.moderation.next_to_moderate(campaign.id)
        assert queued is not None
        assert queued.id == new
        await tx.moderation.decide(campaign.id, [new], "hide", "cli", LATER)
        assert await tx.moderation.next_to_moderate(campaign.id) is None
        # A new flag after the decision brings it back.
        assert await tx.moderation.flag(
            campaign.id, old, alice.id, "P-A", LATER + timedelta(minutes=1)
        )
        queued = await tx.moderation.next_to_moderate(campaign.id)
        assert queued is not None
        assert queued.id == old
        assert [a.action for a in await tx.moderation.acts(campaign.id)] == [
            "flag",
            "hide",
            "show",
            "flag",
        ]


async def test_an_erased_citizen_takes_their_flags_and_items_the_trail_stays(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        alice = await make_participant(tx, "alice", "P-A")
        bob = await make_participant(tx, "bob", "P-B")
        (item,) = await _items(tx, campaign, alice.id, "un")
        await tx.moderation.flag(campaign.id, item, bob.id, "P-B", LATER)
        await tx.moderation.decide(campaign.id, [item], "hide", "cli", LATER)
        await tx.participants.delete_participant(bob.id)
        assert await count(tx, t.item_flags) == 0
        await tx.participants.delete_participant(alice.id)
        assert await count(tx, t.item_moderation) == 0
        assert len(await tx.moderation.acts(campaign.id)) == 2
        assert await tx.participants.participant(UserRef(PLATFORM, "alice")) is None


async def test_every_public_read_leaves_hidden_items_out_exports_mark_them(store: Store) -> None:
    """The attacker's view of the store: hide an item, then read the campaign every way a
    public output does; its words must come back from none of them."""
    secret = "mot-secret"
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        alice = await make_participant(tx, "alice", "P-A")
        bob = await make_participant(tx, "bob", "P-B")
        _, hidden = await _items(tx, campaign, alice.id, "visible", secret)
        await _items(tx, campaign, bob.id, "autre")
        session = await tx.sessions.session(alice.id, campaign.id)
        assert session is not None
        await tx.sessions.revise_item(
            session_id=session.id, seq=2, revision=2, text=f"{secret} bis", value=None, now=LATER
        )
        await tx.moderation.decide(campaign.id, [hidden], "hide", "cli", LATER)

        public = await tx.sessions.campaign_items(campaign.id)
        assert secret not in repr(public)
        assert secret not in repr(await tx.sessions.campaign_revisions(campaign.id))
        assert secret not in repr(await tx.digest.step_items(campaign.id, ["idees"]))
        assert secret not in repr(await tx.digest.latest_items(campaign.id, "idees", 10))
        period = await tx.digest.period_items(campaign.id, T0, LATER + timedelta(days=1))
        async with aclosing(period.partitions()) as partitions:
            rows = [row async for partition in partitions for row in partition]
        assert rows
        assert secret not in repr(rows)
        # Alice's only other item is public: she still counts; a hidden item alone would not.
        assert await tx.participants.section_respondents(
            campaign.id, {"idees": 10}, consent_required=True
        ) == {"idees": 2}
        await tx.moderation.decide(campaign.id, [hidden - 1], "hide", "cli", LATER)
        assert await tx.participants.section_respondents(
            campaign.id, {"idees": 10}, consent_required=True
        ) == {"idees": 1}

        everything = await tx.sessions.campaign_items(campaign.id, include_hidden=True)
        assert sorted((i.text, i.hidden) for i in everything) == [
            ("autre", False),
            (f"{secret} bis", True),
            ("visible", True),
        ]
        revisions = await tx.sessions.campaign_revisions(campaign.id, include_hidden=True)
        assert secret in repr(revisions)
        # The citizen's own data keeps it.
        assert secret in repr(await tx.sessions.participant_items(alice.id))
