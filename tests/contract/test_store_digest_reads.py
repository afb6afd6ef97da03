"""The storage contract of the digest's reads (qn_bot/store/digest_reads.py) and of the
participant definition's counts (qn_bot/store/participants.py), on every backend.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any

import pytest

from qn_bot.records import CampaignRecord, Participation
from qn_bot.repositories import PeriodItems, Transaction
from qn_bot.store import digest_reads
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import make_campaign, make_participant

WEEK = timedelta(days=7)
B0, B1, B2 = T0, T0 + WEEK, T0 + 2 * WEEK  # two weeks


async def _answer(
    tx: Transaction,
    campaign: CampaignRecord,
    person: int,
    answers: list[tuple[str, datetime]],
    *,
    consent: bool = True,
    deleted: tuple[int, ...] = (),
) -> int:
    """A session of ``person`` with one item per (step, instant); ``deleted`` seqs are then
    deleted. Returns the session id."""
    session = await tx.sessions.save_session(
        person, campaign.id, {}, T0 - WEEK, status="active", step_id="idees"
    )
    if consent:
        await tx.sessions.record_consent(session, 1, T0 - WEEK)
    for seq, (step_id, instant) in enumerate(answers, start=1):
        await tx.sessions.add_item(
            session_id=session,
            campaign_id=campaign.id,
            participant_id=person,
            seq=seq,
            step_id=step_id,
            text=f"{step_id} {seq} de {person}",
            value=None,
            now=instant,
        )
    for seq in deleted:
        await tx.sessions.delete_item(session_id=session, seq=seq, now=B2 + WEEK)
    return session


async def _rows(items: PeriodItems) -> list[list[tuple[Any, ...]]]:
    async with aclosing(items.partitions()) as partitions:
        return [list(map(tuple, partition)) async for partition in partitions]


async def test_interval_counts_count_live_items_per_step_and_interval(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        other = await make_campaign(tx, "autre")
        alice = await make_participant(tx, "alice", "P-A")
        bob = await make_participant(tx, "bob", "P-B")
        await _answer(
            tx,
            campaign,
            alice.id,
            [
                ("idees", B0 - timedelta(days=1)),  # before the first boundary: k = -1
                ("idees", B0),  # a boundary belongs to the interval it starts
                ("idees", B1 - timedelta(microseconds=1)),
                ("acteurs", B1 + timedelta(days=1)),
                ("acteurs", B2 + timedelta(days=1)),  # after the last boundary: k = 2
                ("acteurs", B1),  # deleted below: not counted
            ],
            deleted=(6,),
        )
        await _answer(tx, other, bob.id, [("idees", B0 + timedelta(days=1))])
    async with store.snapshot() as tx:
        # Unsorted and repeated boundaries come back sorted, once each.
        found = await tx.digest.interval_counts(campaign.id, [B2, B0, B1, B0])
        empty = await tx.digest.interval_counts(campaign.id + 100, [B0, B1])
    assert found.boundaries == (B0, B1, B2)
    assert dict(found.counts) == {
        ("idees", -1): 1,
        ("idees", 0): 2,
        ("acteurs", 1): 1,
        ("acteurs", 2): 1,
    }
    # The deletion's later update is not a live item's.
    assert found.updated_at == B2 + timedelta(days=1)
    assert empty.counts == {}
    assert empty.updated_at is None


async def test_interval_counts_in_many_statements_add_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the (step, interval) ranges go in statements of MAX_TERMS terms each."""
    monkeypatch.setattr(digest_reads, "MAX_TERMS", 2)
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        for n in range(3):
            person = await make_participant(tx, f"p{n}", f"P-{n}")
            await _answer(tx, campaign, person.id, [(f"s{n}", B0 + timedelta(days=n)), ("s0", B1)])
    async with store.snapshot() as tx:
        found = await tx.digest.interval_counts(campaign.id, [B0, B1, B2])
    assert dict(found.counts) == {("s0", 0): 1, ("s0", 1): 3, ("s1", 0): 1, ("s2", 0): 1}
    assert found.updated_at == B1


@pytest.mark.parametrize("share", ["most of the table", "a small part of it"])
async def test_period_items_stream_the_period_live_items(
    store: Store, monkeypatch: pytest.MonkeyPatch, share: str
) -> None:
    """On SQLite a campaign holding most of the table is read by a table scan, a small one
    through the campaign index: the rows are the same."""
    monkeypatch.setattr(digest_reads, "PARTITION", 2)
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        other = await make_campaign(tx, "autre")
        alice = await make_participant(tx, "alice", "P-A")
        bob = await make_participant(tx, "bob", "P-B")
        await _answer(
            tx,
            campaign,
            alice.id,
            [
                ("idees", B0 - timedelta(microseconds=1)),  # before the period
                ("idees", B0),
                ("acteurs", B0 + timedelta(days=2)),
                ("idees", B0 + timedelta(days=3)),  # deleted below
                ("idees", B1 - timedelta(seconds=1)),
                ("idees", B1),  # the period's end is excluded
            ],
            deleted=(4,),
        )
        others = 1 if share == "most of the table" else 60
        await _answer(
            tx, other, bob.id, [("idees", B0 + timedelta(hours=n)) for n in range(others)]
        )
    async with store.snapshot() as tx:
        items = await tx.digest.period_items(campaign.id, B0, B1)
        first = await _rows(items)
        again = await _rows(items)  # read again on the same snapshot: the same rows
    assert items.campaign_items == 6  # the deleted item counts: it is the job's size
    assert [len(p) for p in first] == [2, 1]
    rows = [row for partition in first for row in partition]
    assert again == first
    assert sorted((r[0], r[1], r[2]) for r in rows) == [
        ("acteurs", "acteurs 3 de " + str(alice.id), alice.id),
        ("idees", "idees 2 de " + str(alice.id), alice.id),
        ("idees", "idees 5 de " + str(alice.id), alice.id),
    ]
    # The creation instant, as stored, orders the items like the instants (ids break ties).
    by_stored = [r[1] for r in sorted(rows, key=lambda r: (r[3], r[4]))]
    assert by_stored == [
        f"idees 2 de {alice.id}",
        f"acteurs 3 de {alice.id}",
        f"idees 5 de {alice.id}",
    ]


async def test_latest_and_step_items_read_live_items_in_answer_order(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        alice = await make_participant(tx, "alice", "P-A")
        bob = await make_participant(tx, "bob", "P-B")
        # Inserted out of time order: "latest" is by insertion, the result in answer order.
        await _answer(
            tx,
            campaign,
            alice.id,
            [("idees", B1), ("idees", B0), ("acteurs", B0), ("idees", B2)],
            deleted=(4,),
        )
        await _answer(tx, campaign, bob.id, [("idees", B0 + timedelta(days=1))])
    async with store.snapshot() as tx:
        latest = await tx.digest.latest_items(campaign.id, "idees", 2)
        every = await tx.digest.step_items(campaign.id, ["idees", "acteurs"])
        none = await tx.digest.step_items(campaign.id, [])
    assert [(i.participant_id, i.seq) for i in latest] == [(alice.id, 2), (bob.id, 1)]
    assert [(i.participant_id, i.seq) for i in every] == [
        (alice.id, 2),
        (alice.id, 3),
        (bob.id, 1),
        (alice.id, 1),
    ]
    assert none == []


async def test_campaign_participants_have_a_live_answer_and_consent(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        people = [await make_participant(tx, f"p{n}", f"P-{n}") for n in range(4)]
        answered = await _answer(tx, campaign, people[0].id, [("idees", B0)])
        await _answer(tx, campaign, people[1].id, [("idees", B0)], consent=False)
        await _answer(tx, campaign, people[2].id, [("idees", B0)], deleted=(1,))
        await _answer(tx, campaign, people[3].id, [])
    async with store.snapshot() as tx:
        consenting = await tx.participants.campaign_participants(campaign.id, consent_required=True)
        anyone = await tx.participants.campaign_participants(campaign.id, consent_required=False)
    assert consenting == [Participation(people[0].id, T0 - WEEK, None)]
    assert sorted(p.participant for p in anyone) == [people[0].id, people[1].id]
    assert answered


async def test_section_respondents_count_within_a_window(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        people = [await make_participant(tx, f"p{n}", f"P-{n}") for n in range(4)]
        await _answer(tx, campaign, people[0].id, [("idees", B0), ("idees", B0), ("acteurs", B1)])
        await _answer(tx, campaign, people[1].id, [("idees", B0 + timedelta(days=1))])
        await _answer(tx, campaign, people[2].id, [("idees", B1)], consent=False)
        await _answer(tx, campaign, people[3].id, [("idees", B1)], deleted=(1,))
    async with store.snapshot() as tx:
        wide = await tx.participants.section_respondents(
            campaign.id, {"idees": 10, "acteurs": 10, "vide": 10}, consent_required=True
        )
        without_consent = await tx.participants.section_respondents(
            campaign.id, {"idees": 10}, consent_required=False
        )
        # Only the first two live answers of the step are read: both are the first person's.
        narrow = await tx.participants.section_respondents(
            campaign.id, {"idees": 2}, consent_required=True
        )
        week = await tx.participants.section_respondents(
            campaign.id, {"idees": 10, "acteurs": 10}, consent_required=True, since=B1, until=B2
        )
        none = await tx.participants.section_respondents(campaign.id, {}, consent_required=True)
    assert wide == {"idees": 2, "acteurs": 1, "vide": 0}
    assert without_consent == {"idees": 3}
    assert narrow == {"idees": 1}
    assert week == {"idees": 0, "acteurs": 1}
    assert none == {}
