"""The transcripts port (qn_bot.store.transcripts): the web chat's conversation, one row per
message, written by group commit; gone with the citizen (/oublier) and by retention."""

from __future__ import annotations

import asyncio

from qn_bot.config import RetentionConfig
from qn_bot.domain import UserRef
from qn_bot.retention import purge
from qn_bot.service import Service
from qn_bot.store.sql import Store
from qn_bot.store.transcripts import StoreTranscripts
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_service import Citizen, open_campaign

ANNE = UserRef("web", "anne")
BOB = UserRef("web", "bob")


async def test_rows_are_appended_in_order_read_after_an_id_and_a_repeat_is_kept_once(
    store: Store, clock: FixedClock
) -> None:
    rows = StoreTranscripts(store, clock)
    # Appended at once, many citizens: one group commit, each in its order.
    written = await asyncio.gather(
        *(rows.append(ANNE, "citizen", {"text": f"a{n}"}, f"anne-{n}") for n in range(20)),
        *(rows.append(BOB, "bot", {"text": f"b{n}"}, f"bob-{n}") for n in range(20)),
        rows.append(ANNE, "citizen", {"text": "again"}, "anne-3"),  # the same post, twice
    )
    assert written[-1] is None
    anne = await rows.after(ANNE)
    assert [r.body["text"] for r in anne] == [f"a{n}" for n in range(20)]
    assert [r.id for r in anne] == sorted(r.id for r in anne)
    assert await rows.append(ANNE, "citizen", {"text": "later"}, "anne-3") is None
    assert [r.body["text"] for r in await rows.after(ANNE, anne[9].id)] == [
        f"a{n}" for n in range(10, 20)
    ]
    assert [r.body["text"] for r in await rows.latest(BOB, 2)] == ["b19", "b18"]
    assert await rows.after(UserRef("web", "nobody")) == []


async def test_oublier_erases_the_transcript_and_ids_are_never_given_again(
    store: Store, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    await open_campaign(store, clock)
    service = Service(store, clock=clock, pseudonyms=pseudonyms)
    anne, bob = Citizen(service, "anne"), Citizen(service, "bob")
    rows = StoreTranscripts(store, clock)
    await anne.join()
    await bob.join()
    seen = await rows.append(anne.user, "citizen", {"text": "Anne écrit"}, "k1")
    await rows.append(bob.user, "citizen", {"text": "Bob écrit"}, "k1")
    assert seen is not None

    await anne.say("/oublier")
    assert "effacé" in await anne.press("forget_yes")

    assert await rows.after(anne.user) == []
    assert [r.body["text"] for r in await rows.after(bob.user)] == ["Bob écrit"]
    # A page that saw her last id before the erasure still gets what comes after it.
    again = await rows.append(anne.user, "bot", {"text": "Au revoir"}, "k2")
    assert again is not None
    assert again.id > seen.id
    assert [r.body["text"] for r in await rows.after(anne.user, seen.id)] == ["Au revoir"]


async def test_retention_takes_a_transcript_untouched_for_adapter_state_days(
    store: Store, clock: FixedClock
) -> None:
    retention = RetentionConfig()
    rows = StoreTranscripts(store, clock)
    await rows.append(ANNE, "citizen", {"text": "ancien"}, "k1")
    await rows.append(BOB, "citizen", {"text": "ancien aussi"}, "k1")
    clock.advance(days=retention.adapter_state_days - 1)
    await rows.append(BOB, "bot", {"text": "récent"}, "k2")  # Bob's talk goes on
    clock.advance(days=2)
    purged = await purge(store, retention, clock())
    assert purged.adapter_state == 1
    assert await rows.after(ANNE) == []
    # Not cut in the middle: the whole of a conversation still going on stays.
    assert [r.body["text"] for r in await rows.after(BOB)] == ["ancien aussi", "récent"]
    clock.advance(days=retention.adapter_state_days)
    assert (await purge(store, retention, clock())).adapter_state == 2
    assert await rows.after(BOB) == []
