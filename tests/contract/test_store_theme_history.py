"""Kept weekly themes through the store, on every backend (issue 14 §4): a week kept once (a
second process gets None and writes nothing), a theme's identity and parents, and a label's
items checked at read — erased, deleted, edited, blanked or hidden, they no longer count."""

from __future__ import annotations

from datetime import timedelta

from qn_bot.records import KeptTheme
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import count, make_campaign, make_participant
from tests.contract.test_store_votes import give_items

WEEK = (T0, T0 + timedelta(days=7))
NEXT = (WEEK[1], WEEK[1] + timedelta(days=7))
MODEL = "use-multilingual-v3"


def kept(label: str, holders: tuple[int, ...] = (), identity: int | None = None) -> KeptTheme:
    return KeptTheme(
        label, 6, 3, bytes(4), holders, identity, () if identity is None else (identity,)
    )


async def test_a_week_is_kept_once_with_identities_and_parents(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        first = await tx.theme_history.keep_week(
            campaign.id, "idees", MODEL, *WEEK, [kept("vélo"), kept("loyers")], T0
        )
    assert first is not None
    bikes, rents = first
    assert (bikes.rank, bikes.identity, bikes.parents, bikes.label) == (0, bikes.id, (), "vélo")
    assert rents.identity == rents.id != bikes.id
    async with store.transaction() as tx:  # another process kept that week meanwhile
        again = await tx.theme_history.keep_week(
            campaign.id, "idees", MODEL, *WEEK, [kept("autre")], T0
        )
        assert again is None
        second = await tx.theme_history.keep_week(
            campaign.id,
            "idees",
            MODEL,
            *NEXT,
            [kept("Mobilité douce", identity=bikes.id), kept("écoles")],
            T0,
        )
    assert second is not None
    assert (second[0].identity, second[0].parents) == (bikes.id, (bikes.id,))
    assert second[1].identity == second[1].id
    async with store.snapshot() as tx:
        found = await tx.theme_history.kept_weeks(campaign.id, ["idees"], MODEL, WEEK[0], NEXT[1])
        assert [(s.start, s.label) for s in found] == [
            (WEEK[0], "vélo"),
            (WEEK[0], "loyers"),
            (NEXT[0], "Mobilité douce"),
            (NEXT[0], "écoles"),
        ]
        assert (found[2].centroid, found[2].count, found[2].people) == (bytes(4), 6, 3)
        # Only weeks within the bounds; another model's weeks are another space.
        assert (
            len(await tx.theme_history.kept_weeks(campaign.id, ["idees"], MODEL, NEXT[0], NEXT[1]))
            == 2
        )
        assert (
            await tx.theme_history.kept_weeks(campaign.id, ["idees"], "other", WEEK[0], NEXT[1])
            == []
        )


async def test_a_label_counts_only_its_items_still_live_public_and_unchanged(store: Store) -> None:
    async with store.transaction() as tx:
        campaign = await make_campaign(tx)
        people = [await make_participant(tx, str(n), f"P-{n}") for n in range(6)]
        items = []
        for person in people:
            items += await give_items(tx, person.id, campaign.id, "des pistes cyclables")
        (theme,) = (
            await tx.theme_history.keep_week(
                campaign.id, "idees", MODEL, *WEEK, [kept("pistes cyclables", tuple(items))], T0
            )
            or []
        )

    async def label_people() -> int:
        async with store.snapshot() as tx:
            return (await tx.theme_history.label_people([theme.id]))[theme.id]

    assert await label_people() == 6
    sessions = {}
    async with store.snapshot() as tx:
        for row in (await tx.conn.execute(t.items.select())).all():
            sessions[row.id] = row.session_id
    async with store.transaction() as tx:
        await tx.participants.delete_participant(people[0].id)  # /oublier
        await tx.sessions.delete_item(session_id=sessions[items[1]], seq=1, now=T0)
        await tx.sessions.revise_item(
            session_id=sessions[items[2]], seq=1, revision=2, text="des bus", value=None, now=T0
        )
        await tx.sessions.erase_item_texts(session_id=sessions[items[3]], seqs=[1])
        await tx.moderation.decide(campaign.id, [items[4]], "hide", "cli", T0)
    assert await label_people() == 1
    async with store.snapshot() as tx:  # the erased citizen's item went with them
        assert await count(tx, t.theme_label_items) == 5
    # The embedding worker's round forgets a label once erasure leaves it one citizen's word.
    # A hidden item still counts there: hiding is a matter of public outputs, checked when read.
    async with store.transaction() as tx:
        assert await tx.theme_history.drop_stale_labels(2) == 0
        await tx.participants.delete_participant(people[4].id)
    async with store.transaction() as tx:
        assert await tx.theme_history.drop_stale_labels(2) == 1
        assert await tx.theme_history.drop_stale_labels(2) == 0
        (found,) = await tx.theme_history.kept_weeks(campaign.id, ["idees"], MODEL, *WEEK)
        assert (found.label, found.stale) == ("", True)
    async with store.transaction() as tx:
        await tx.theme_history.relabel(theme.id, "bus", [items[2], items[5]])
    async with store.snapshot() as tx:
        (found,) = await tx.theme_history.kept_weeks(campaign.id, ["idees"], MODEL, *WEEK)
        assert (found.label, found.stale) == ("bus", False)
        assert await tx.theme_history.label_people([theme.id, 999]) == {theme.id: 2, 999: 0}
