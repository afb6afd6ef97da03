"""The storage contract of sessions, items and revisions (qn_bot/store/sessions.py), on
every backend.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

from datetime import timedelta

from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import count, make_campaign, make_participant


async def test_items_keep_their_revision_history(store: Store) -> None:
    async with store.transaction() as tx:
        c = await make_campaign(tx)
        p = await make_participant(tx, "alice", "P-A")
        s = await tx.sessions.save_session(
            p.id, c.id, {"v": 1}, T0, status="active", step_id="idees"
        )
        common = {"session_id": s, "campaign_id": c.id, "participant_id": p.id, "value": None}
        await tx.sessions.add_item(seq=1, step_id="idees", text="premier jet", now=T0, **common)
        await tx.sessions.add_item(seq=2, step_id="idees", text="à jeter", now=T0, **common)
        await tx.sessions.add_item(seq=3, step_id="idees", text="inchangé", now=T0, **common)
    later = T0 + timedelta(minutes=5)
    async with store.transaction() as tx:
        await tx.sessions.revise_item(
            session_id=s, seq=1, revision=2, text="version finale", value=None, now=later
        )
        await tx.sessions.delete_item(session_id=s, seq=2, now=later)
    async with store.transaction() as tx:
        items = await tx.sessions.campaign_items(c.id)
        revisions = await tx.sessions.campaign_revisions(c.id)
    assert [(i.seq, i.text, i.revision, i.pseudonym) for i in items] == [
        (1, "version finale", 2, "P-A"),
        (3, "inchangé", 1, "P-A"),
    ]
    assert items[0].created_at == T0
    assert items[0].updated_at == later
    by_item: dict[int, list[tuple[int, str, bool]]] = {}
    for r in revisions:
        by_item.setdefault(r.item_id, []).append((r.revision, r.text, r.deleted))
    assert sorted(by_item.values()) == sorted(
        [
            [(1, "premier jet", False), (2, "version finale", False)],
            [(1, "à jeter", False), (2, "à jeter", True)],
            [(1, "inchangé", False)],
        ]
    )


async def test_save_session_creates_then_updates_one_row(store: Store) -> None:
    async with store.transaction() as tx:
        c = await make_campaign(tx)
        p = await make_participant(tx, "alice", "P-A")
        first = await tx.sessions.save_session(
            p.id, c.id, {"n": 1}, T0, status="active", step_id="idees"
        )
        again = await tx.sessions.save_session(
            p.id, c.id, {"n": 2}, T0, status="completed", step_id=None
        )
        session = await tx.sessions.session(p.id, c.id)
        assert await count(tx, t.sessions) == 1
    assert first == again
    assert session is not None
    assert (session.state, session.status) == ({"n": 2}, "completed")
