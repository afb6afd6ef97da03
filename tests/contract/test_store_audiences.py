"""The storage contract of audiences (qn_bot/store/audiences.py): whom reminders and
campaign-wide messages go to, on every backend.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

from qn_bot.domain import OutboundMessage
from qn_bot.records import CampaignRecord, ParticipantRecord
from qn_bot.store.sql import Store, Tx
from tests.conftest import T0
from tests.contract.store_helpers import make_campaign, make_participant


async def _join(tx: Tx, who: ParticipantRecord, campaign: CampaignRecord, status: str) -> None:
    session = await tx.sessions.save_session(
        who.id, campaign.id, {}, T0, status=status, step_id=None
    )
    await tx.sessions.record_consent(session, 1, T0)


async def test_invitees_and_mid_flow_citizens_each_queued_once_in_their_language(
    store: Store,
) -> None:
    async with store.transaction() as tx:
        past, current = await make_campaign(tx, "passee"), await make_campaign(tx, "actuelle")
        ana, ben, cleo, dan = [
            await make_participant(tx, name, f"P-{name}") for name in ("ana", "ben", "cleo", "dan")
        ]
        await tx.participants.update_participant(ben.id, T0, language="en")
        await tx.participants.update_participant(dan.id, T0, stopped=True)
        for someone in (ana, ben, cleo, dan):
            await _join(tx, someone, past, "completed")
        await _join(tx, cleo, current, "active")  # joined already: no invitation
    messages = {"fr": OutboundMessage("bonjour"), "en": OutboundMessage("hello")}
    async with store.transaction() as tx:
        invited = await tx.audiences.enqueue_to_audience(
            "invitees", current.id, messages, T0, dedupe_prefix="invite:"
        )
        reminded = await tx.audiences.enqueue_to_audience(
            "mid_flow", current.id, messages, T0, dedupe_prefix="nudge:", dedupe_suffix=":1"
        )
        again = await tx.audiences.enqueue_to_audience(
            "invitees", current.id, messages, T0, dedupe_prefix="invite:"
        )
        states = await tx.outbox.outbox_states(
            [f"invite:{ana.id}", f"invite:{ben.id}", f"nudge:{cleo.id}:1", f"invite:{dan.id}"]
        )
        queued = await tx.outbox.messages_with_content(T0)
    assert (invited, reminded, again) == (2, 1, 0)
    assert sorted(states) == [f"invite:{ana.id}", f"invite:{ben.id}", f"nudge:{cleo.id}:1"]
    assert sorted(message.text for _, message in queued) == ["bonjour", "bonjour", "hello"]


async def test_unfinished_sessions_are_read_a_page_at_a_time(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        people = [await make_participant(tx, f"p{n}", f"P-{n}") for n in range(5)]
        for someone in people:
            await _join(tx, someone, campaign, "active")
        await _join(tx, await make_participant(tx, "done", "P-done"), campaign, "completed")
        stopped = await make_participant(tx, "stop", "P-stop")
        await _join(tx, stopped, campaign, "active")
        await tx.participants.update_participant(stopped.id, T0, stopped=True)
    pages: list[list[int]] = []
    after = 0
    async with store.snapshot() as tx:
        while page := await tx.audiences.unfinished_sessions(
            campaign.id, after_session_id=after, limit=2
        ):
            pages.append([s.participant.id for s in page])
            after = page[-1].session_id
        assert await tx.audiences.stopped_mid_flow(campaign.id) == 1
    assert pages == [[p.id for p in people[n : n + 2]] for n in (0, 2, 4)]
