"""/relancer in a citizen's quiet hours queues the reminder now and it goes when they end
(a deferred outbox row): it holds back none of the citizen's other messages, it is not sent once
pointless, and it is queued and sent once, whoever asks and whatever crashes in between."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.config import RemindersConfig
from qn_bot.domain import Address, CampaignStatus
from qn_bot.flows.loader import load_flow_text
from qn_bot.reminders import send_due_reminders
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_lifecycle import message, new_campaign, service
from tests.contract.test_outbox import RecordingAdapter, worker_for

__all__ = ["service"]  # the fixture

NIGHT = datetime(2026, 1, 15, 21, 0, tzinfo=UTC)  # 22:00 in Paris: quiet hours until 9:00
MORNING = datetime(2026, 1, 16, 8, 0, tzinfo=UTC)  # 9:00 in Paris: the quiet hours end
REMINDER = "Vous aviez commencé"

SHORT = """
id = "court"
version = 1
languages = ["fr"]
title = "Court"

[[steps]]
id = "accord"
kind = "consent"
prompt = "D’accord\u00a0?"

[[steps]]
id = "mot"
kind = "text"
prompt = "Un mot\u00a0?"
section = "Mots"
"""


async def say(service: Service, user: str, text: str) -> str:
    return "\n".join(r.text for r in (await service.handle(message(user, text))).replies)


def reminders(adapter: RecordingAdapter) -> list[str]:
    """Who got a reminder, once per reminder, in the order they went."""
    return [e.address.chat_id for _, e in adapter.sent if REMINDER in e.message.text]


async def started(service: Service, slug: str, *users: str) -> None:
    for user in users:
        await say(service, user, f"/start {slug}")
        await say(service, user, "1")


async def short_campaign(store: Store, clock: FixedClock) -> None:
    async with store.transaction() as tx:
        flow = load_flow_text(SHORT, "court.toml")
        await create_campaign(tx, slug="court", flow=flow, title="Court", now=clock())
        await set_status(tx, "court", CampaignStatus.OPEN, clock())


async def reminder_rows(store: Store) -> list[tuple[str, str]]:
    """(chat, status) of every reminder row (the scheduler's keys, and those /relancer had)."""
    o = t.outbox.c
    reminder = or_(o.dedupe_key.like("reminder:%"), o.dedupe_key.like("relance:%"))
    async with store.snapshot() as tx:
        rows = await tx.conn.execute(select(o.chat_id, o.status).where(reminder).order_by(o.id))
        return [(r.chat_id, r.status) for r in rows]


async def test_a_reminder_in_quiet_hours_goes_when_they_end_and_holds_back_no_reply(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(store, clock, "calme")
    await started(service, "calme", "ana", "ben")
    adapter = RecordingAdapter()
    worker = worker_for(store, adapter, clock=clock)
    await worker.drain()

    clock.now = NIGHT
    await say(service, "admin", "/relancer calme")
    await worker.drain()
    assert reminders(adapter) == []

    # Ana writes in her quiet hours: her answer is acknowledged at once, the reminder stays.
    before = len(adapter.texts("ana"))
    ack = await say(service, "ana", "une idée de minuit")
    await worker.drain()
    assert "\n".join(adapter.texts("ana")[before:]) == ack
    assert reminders(adapter) == []

    clock.now = MORNING
    await worker.drain()
    assert sorted(reminders(adapter)) == ["ana", "ben"]
    clock.advance(hours=2)
    await worker.drain()
    assert sorted(reminders(adapter)) == ["ana", "ben"]  # once


async def test_a_reminder_that_became_pointless_is_not_sent(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await short_campaign(store, clock)
    await started(service, "court", "ana", "ben", "cyd", "dan")
    adapter = RecordingAdapter()
    worker = worker_for(store, adapter, clock=clock)
    clock.now = NIGHT
    assert "4 relances partiront" in await say(service, "admin", "/relancer court")
    await say(service, "ana", "mon mot")  # ana finishes the flow
    assert "Merci" in await say(service, "ana", "Valider et terminer")
    await say(service, "ben", "/stop")
    await say(service, "cyd", "/oublier")
    assert "effacé" in await say(service, "cyd", "Oui, tout effacer")

    clock.now = MORNING
    await worker.drain()
    assert reminders(adapter) == ["dan"]
    assert await reminder_rows(store) == [
        ("ana", "cancelled"),
        ("ben", "cancelled"),
        ("dan", "sent"),
    ]  # cyd's went with everything else of hers


async def test_a_reminder_of_a_campaign_closed_meanwhile_is_not_sent(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await short_campaign(store, clock)
    await started(service, "court", "ana")
    adapter = RecordingAdapter()
    worker = worker_for(store, adapter, clock=clock)
    clock.now = NIGHT
    assert "1 relance partira" in await say(service, "admin", "/relancer court")
    await say(service, "admin", "/cloturer court")
    clock.now = MORNING
    await worker.drain()
    assert reminders(adapter) == []
    assert await reminder_rows(store) == [("ana", "cancelled")]
    refused = await say(service, "admin", "/relancer court")
    assert refused == "La campagne court n’est pas ouverte (clôturée)\u00a0: aucune relance."


async def test_relancer_twice_and_the_scheduler_queue_one_reminder_per_citizen(
    store: Store, clock: FixedClock, service: Service
) -> None:
    # The second scheduled reminder falls due at 9:30 in Paris (22.5 h after their answer).
    schedule = RemindersConfig(delays_hours=(12, 22.5))
    await new_campaign(store, clock, "une-fois")
    await started(service, "une-fois", "ana", "ben")
    clock.now = NIGHT
    first = await say(service, "admin", "/relancer une-fois")
    assert first.startswith("2 relances partiront demain à 9\u00a0h\u00a000"), first
    clock.advance(minutes=30)
    again = await say(service, "admin", "/relancer une-fois")
    assert again.startswith("2 personnes ont déjà une relance en attente"), again
    assert len(await reminder_rows(store)) == 2

    clock.now = MORNING + timedelta(minutes=30)  # due, but the last reminder went at 9:00
    assert await send_due_reminders(store, schedule, clock()) == 0
    assert "2 personnes ont déjà" in await say(service, "admin", "/relancer une-fois")
    clock.now = MORNING + timedelta(minutes=61)  # an hour later: the scheduler's turn
    assert await send_due_reminders(store, schedule, clock()) == 2
    assert "2 personnes ont déjà" in await say(service, "admin", "/relancer une-fois")
    assert [chat for chat, _ in await reminder_rows(store)] == ["ana", "ben"] * 2


async def test_relancer_and_the_scheduler_at_once_queue_one_reminder_per_citizen(
    store: Store, migrated_url: str, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    """Two processes at the same instant: /relancer in one, the scheduler's pass in the other."""
    await new_campaign(store, clock, "course")
    first = Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:admin",))
    users = [f"u{n}" for n in range(6)]
    await started(first, "course", *users)
    clock.advance(hours=25)
    other = Store.from_url(migrated_url)
    try:
        schedule = RemindersConfig(delays_hours=(24,))
        reply, queued = await asyncio.gather(
            say(first, "admin", "/relancer course"),
            send_due_reminders(other, schedule, clock()),
        )
    finally:
        await other.close()
    rows = await reminder_rows(store)
    assert sorted(chat for chat, _ in rows) == users, (reply, queued)


async def test_deferred_reminders_survive_a_crash_once_each(
    store: Store, migrated_url: str, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    """A process dies after queueing (and another after claiming, before sending): the next
    one sends every reminder once, and asking again queues none."""
    await new_campaign(store, clock, "panne")
    users = ["ana", "ben", "cyd"]
    await started(
        Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:admin",)),
        "panne",
        *users,
    )
    await worker_for(store, RecordingAdapter(), clock=clock).drain()
    clock.now = NIGHT
    queueing = Store.from_url(migrated_url)
    service = Service(queueing, clock=clock, pseudonyms=pseudonyms, admins=("test:admin",))
    assert "3 relances partiront" in await say(service, "admin", "/relancer panne")
    await queueing.close()  # dies: what it committed is all that is left of it

    clock.now = MORNING
    dying = Store.from_url(migrated_url)
    async with dying.transaction() as tx:
        held = await tx.outbox.claim_outbox(
            clock(),
            limit=10,
            lease=timedelta(seconds=60),
            platforms=["test"],
            chat=Address("test", "ana"),
            owner="dead",
        )
    assert [r.message.text for r in held if REMINDER in r.message.text] != []
    await dying.close()  # dies holding ana's reminder, unsent

    clock.advance(minutes=2)  # its lease ran out
    restarted = Store.from_url(migrated_url)
    try:
        service = Service(restarted, clock=clock, pseudonyms=pseudonyms, admins=("test:admin",))
        assert "3 personnes ont déjà" in await say(service, "admin", "/relancer panne")
        assert (
            await send_due_reminders(restarted, RemindersConfig(delays_hours=(12,)), clock()) == 0
        )
        adapter = RecordingAdapter()
        await worker_for(restarted, adapter, clock=clock).drain()
    finally:
        await restarted.close()
    assert sorted(reminders(adapter)) == users
