"""The storage contract of peer votes (qn_bot/store/votes.py), on every backend: one vote per
citizen and statement with the latest winning, gone with the voter and with the statement, the
same rows through group commit's batch, and the columns the opinion map reads."""

from __future__ import annotations

from datetime import timedelta

from qn_bot.records import Vote, VoteCounts
from qn_bot.repositories import VoteWrites
from qn_bot.store import schema as t
from qn_bot.store.batch import BatchWrites
from qn_bot.store.sql import Store, Tx
from tests.conftest import T0
from tests.contract.store_helpers import count, make_campaign, make_participant

LATER = T0 + timedelta(minutes=5)


async def give_items(tx: Tx, participant_id: int, campaign_id: int, *texts: str) -> list[int]:
    """A participant's session with these items; returns the items' ids."""
    session_id = await tx.sessions.save_session(
        participant_id, campaign_id, {}, T0, status="completed", step_id=None
    )
    for seq, text in enumerate(texts, start=1):
        await tx.sessions.add_item(
            session_id=session_id,
            campaign_id=campaign_id,
            participant_id=participant_id,
            seq=seq,
            step_id="idees",
            text=text,
            value=None,
            now=T0,
        )
    statements = await tx.votes.public_statements(campaign_id, ["idees"])
    return [s.item_id for s in statements if s.participant_id == participant_id]


async def setup(tx: Tx) -> tuple[int, int, int, list[int]]:
    """A campaign, an author of three statements, a voter: (campaign, author, voter, items)."""
    campaign = await make_campaign(tx)
    author = await make_participant(tx, "1", "P-AUTHOR")
    voter = await make_participant(tx, "2", "P-VOTER")
    items = await give_items(
        tx, author.id, campaign.id, "Des pistes cyclables", "Moins de bruit", "Un marché"
    )
    return campaign.id, author.id, voter.id, items


async def test_a_vote_is_one_row_per_citizen_and_statement_and_the_latest_wins(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        campaign, _, voter, items = await setup(tx)
        await tx.votes.record_vote(
            participant_id=voter, item_id=items[0], campaign_id=campaign, value=Vote.AGREE, now=T0
        )
        # the same vote again (a button pressed twice): still one vote
        await tx.votes.record_vote(
            participant_id=voter, item_id=items[0], campaign_id=campaign, value=Vote.AGREE, now=T0
        )
    async with store.transaction() as tx:
        # a change of mind replaces it; a replayed older vote does not undo the change
        await tx.votes.record_vote(
            participant_id=voter,
            item_id=items[0],
            campaign_id=campaign,
            value=Vote.DISAGREE,
            now=LATER,
        )
        await tx.votes.record_vote(
            participant_id=voter, item_id=items[0], campaign_id=campaign, value=Vote.AGREE, now=T0
        )
        await tx.votes.record_vote(
            participant_id=voter, item_id=items[1], campaign_id=campaign, value=Vote.PASS, now=T0
        )
    async with store.snapshot() as tx:
        assert await count(tx, t.votes) == 2
        assert await tx.votes.voted_items(voter, campaign) == {items[0], items[1]}
        assert await tx.votes.participant_votes(voter, campaign) == {
            items[0]: Vote.DISAGREE,
            items[1]: Vote.PASS,
        }
        assert await tx.votes.vote_counts(campaign, ["autre"]) == {}  # not a statement step
        assert await tx.votes.vote_counts(campaign, ["idees"]) == {
            items[0]: VoteCounts(agree=0, disagree=1, passed=0),
            items[1]: VoteCounts(agree=0, disagree=0, passed=1),
        }
        columns = await tx.votes.vote_columns(campaign)
        assert sorted(
            zip(columns.participant_ids, columns.item_ids, columns.values, strict=True)
        ) == [
            (voter, items[0], -1),
            (voter, items[1], 0),
        ]
        row = (await tx.conn.execute(t.votes.select().where(t.votes.c.item_id == items[0]))).one()
        assert (row.created_at, row.updated_at) == (T0, LATER)


async def test_the_batch_writes_what_the_repository_writes(store: Store) -> None:
    async def vote(writes: VoteWrites, voter: int, campaign: int, items: list[int]) -> None:
        await writes.record_vote(
            participant_id=voter, item_id=items[0], campaign_id=campaign, value=Vote.AGREE, now=T0
        )
        await writes.record_vote(
            participant_id=voter,
            item_id=items[0],
            campaign_id=campaign,
            value=Vote.DISAGREE,
            now=LATER,
        )
        await writes.record_vote(
            participant_id=voter, item_id=items[1], campaign_id=campaign, value=Vote.PASS, now=T0
        )

    async with store.transaction() as tx:
        campaign, author, voter, items = await setup(tx)
        other = await make_participant(tx, "3", "P-OTHER")
        await vote(tx.votes, voter, campaign, items)
        batch = BatchWrites()
        await vote(batch, other.id, campaign, items)
        # a vote already stored is replaced through the batch too
        await batch.record_vote(
            participant_id=voter, item_id=items[2], campaign_id=campaign, value=Vote.AGREE, now=T0
        )
        await tx.votes.record_vote(
            participant_id=voter, item_id=items[2], campaign_id=campaign, value=Vote.PASS, now=T0
        )
        await batch.flush(tx)
    async with store.snapshot() as tx:
        columns = await tx.votes.vote_columns(campaign)
        votes = sorted(zip(columns.participant_ids, columns.item_ids, columns.values, strict=True))
        assert votes == sorted(
            [
                (voter, items[0], -1),
                (voter, items[1], 0),
                (voter, items[2], 1),
                (other.id, items[0], -1),
                (other.id, items[1], 0),
            ]
        )
        del author


async def test_votes_go_with_the_voter_and_with_the_statement(store: Store) -> None:
    async with store.transaction() as tx:
        campaign, author, voter, items = await setup(tx)
        other = await make_participant(tx, "3", "P-OTHER")
        for who in (voter, other.id):
            for item in items:
                await tx.votes.record_vote(
                    participant_id=who, item_id=item, campaign_id=campaign, value=Vote.AGREE, now=T0
                )
        # the author votes on another's statement, too
        their = await give_items(tx, other.id, campaign, "Une idée d'un autre")
        await tx.votes.record_vote(
            participant_id=author, item_id=their[0], campaign_id=campaign, value=Vote.AGREE, now=T0
        )
        await tx.votes.save_groups(campaign, {voter: 0, other.id: 1, author: 1})
    async with store.transaction() as tx:
        # a withdrawn statement leaves every output (its votes are kept out of each read)
        session = await tx.sessions.session(author, campaign)
        assert session is not None
        await tx.sessions.delete_item(session_id=session.id, seq=1, now=LATER)
    async with store.snapshot() as tx:
        live = [s.item_id for s in await tx.votes.public_statements(campaign, ["idees"])]
        assert items[0] not in live
        assert items[0] not in await tx.votes.vote_counts(campaign, ["idees"])
    async with store.transaction() as tx:
        await tx.participants.delete_participant(voter)  # /oublier
    async with store.snapshot() as tx:
        assert await tx.votes.voted_items(voter, campaign) == set()
        assert await count(tx, t.votes, t.votes.c.participant_id == voter) == 0
        assert await tx.votes.last_groups(campaign) == {other.id: 1, author: 1}
    async with store.transaction() as tx:
        await tx.participants.delete_participant(author)  # their statements and votes go
    async with store.snapshot() as tx:
        assert len(await tx.votes.vote_columns(campaign)) == 0
        assert await tx.votes.vote_counts(campaign, ["idees"]) == {}
        assert await tx.votes.last_groups(campaign) == {other.id: 1}


async def test_groups_are_replaced_whole(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        people = [await make_participant(tx, str(n), f"P-{n:04d}") for n in range(600)]
        await tx.votes.save_groups(campaign.id, {p.id: p.id % 3 for p in people})
        await tx.votes.save_groups(campaign.id, {p.id: 7 for p in people[:2]})
    async with store.snapshot() as tx:
        assert await tx.votes.last_groups(campaign.id) == {p.id: 7 for p in people[:2]}
