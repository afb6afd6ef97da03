"""Campaign lifecycle, reminders, invitations and facilitator roles, on the real store."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from qn_bot.campaigns import apply_schedule, create_campaign, invite, notify_closed, set_status
from qn_bot.config import Config, RemindersConfig
from qn_bot.domain import Address, CampaignStatus, InboundKind, InboundMessage, UserRef
from qn_bot.flows.loader import resolve_flow
from qn_bot.i18n import default_catalog
from qn_bot.reminders import in_quiet_hours, send_due_reminders
from qn_bot.scheduler import Scheduler
from qn_bot.service import Service
from qn_bot.store import schema
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms

_ids = itertools.count(1)


def message(user: str, text: str) -> InboundMessage:
    return InboundMessage(
        sender=UserRef("test", user),
        address=Address("test", user),
        message_id=f"m{next(_ids)}",
        kind=InboundKind.TEXT,
        text=text,
    )


async def outbox_texts(store: Store, chat: str | None = None) -> list[str]:
    async with store.transaction() as tx:
        stmt = select(schema.outbox.c.chat_id, schema.outbox.c.payload).order_by(schema.outbox.c.id)
        rows = (await tx.conn.execute(stmt)).all()
    return [r.payload["text"] for r in rows if chat is None or r.chat_id == chat]


async def new_campaign(
    store: Store,
    clock: FixedClock,
    slug: str,
    *,
    opens: datetime | None = None,
    closes: datetime | None = None,
    open_now: bool = True,
) -> None:
    async with store.transaction() as tx:
        await create_campaign(
            tx,
            slug=slug,
            flow=resolve_flow("construire-2030"),
            title=f"Titre {slug}",
            now=clock(),
            opens_at=opens,
            closes_at=closes,
        )
        if open_now:
            await set_status(tx, slug, CampaignStatus.OPEN, clock())


@pytest.fixture
def service(store: Store, clock: FixedClock, pseudonyms: Pseudonyms) -> Service:
    return Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:admin",))


async def test_scheduled_opening_and_closing_tell_mid_flow_citizens_once(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(
        store,
        clock,
        "planifiee",
        opens=clock() + timedelta(hours=1),
        closes=clock() + timedelta(hours=2),
        open_now=False,
    )
    async with store.transaction() as tx:
        assert await apply_schedule(tx, clock()) == []
    clock.advance(hours=1)
    async with store.transaction() as tx:
        assert await apply_schedule(tx, clock()) == [("planifiee", CampaignStatus.OPEN)]
    await service.handle(message("ana", "/start planifiee"))
    await service.handle(message("ana", "1"))
    await service.handle(message("ana", "une idée"))
    clock.advance(hours=1)
    async with store.transaction() as tx:
        assert await apply_schedule(tx, clock()) == [("planifiee", CampaignStatus.CLOSED)]
    async with store.transaction() as tx:
        assert await apply_schedule(tx, clock()) == []
    notices = [t for t in await outbox_texts(store, "ana") if "maintenant close" in t]
    assert len(notices) == 1
    reply = await service.handle(message("ana", "encore une idée"))
    assert "close" in reply.replies[0].text
    async with store.transaction() as tx:
        campaign = await tx.campaigns.campaign_by_slug("planifiee")
        assert campaign is not None
        items = await tx.sessions.campaign_items(campaign.id)
    assert [item.text for item in items] == ["une idée"]  # kept, and nothing added after closing


async def test_two_schedulers_on_one_database_close_once(
    migrated_url: str, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    first, second = Store.from_url(migrated_url), Store.from_url(migrated_url)
    try:
        await new_campaign(first, clock, "double", closes=clock() + timedelta(minutes=5))
        service = Service(first, clock=clock, pseudonyms=pseudonyms)
        for user in ("a", "b", "c"):
            await service.handle(message(user, "/start double"))
            await service.handle(message(user, "1"))
        clock.advance(minutes=10)
        config = Config()
        schedulers = [Scheduler(s, config, clock=clock) for s in (first, second)]
        results = await asyncio.gather(*(s.tick_campaigns() for s in schedulers))
        assert sorted(results) == [0, 1]
        notices = [t for t in await outbox_texts(first) if "maintenant close" in t]
        assert len(notices) == 3
    finally:
        await first.close()
        await second.close()


async def test_apscheduler_runs_the_campaign_job_at_start(store: Store, clock: FixedClock) -> None:
    await new_campaign(store, clock, "demarrage", opens=clock(), open_now=False)
    scheduler = Scheduler(store, Config(), clock=clock)
    async with scheduler:
        for _ in range(100):
            async with store.transaction() as tx:
                campaign = await tx.campaigns.campaign_by_slug("demarrage")
            assert campaign is not None
            if campaign.status is CampaignStatus.OPEN:
                break
            await asyncio.sleep(0.05)
    assert campaign.status is CampaignStatus.OPEN


def test_quiet_hours_span_midnight_in_local_time() -> None:
    paris = "Europe/Paris"
    start, end = RemindersConfig().quiet_start, RemindersConfig().quiet_end
    assert in_quiet_hours(datetime(2026, 1, 15, 20, 30, tzinfo=UTC), paris, start, end)  # 21:30
    assert in_quiet_hours(datetime(2026, 1, 16, 7, 59, tzinfo=UTC), paris, start, end)  # 08:59
    assert not in_quiet_hours(datetime(2026, 1, 16, 8, 0, tzinfo=UTC), paris, start, end)
    assert not in_quiet_hours(datetime(2026, 7, 16, 18, 59, tzinfo=UTC), paris, start, end)
    assert in_quiet_hours(datetime(2026, 7, 16, 19, 0, tzinfo=UTC), paris, start, end)  # DST


async def test_reminders_after_delays_at_most_n_never_twice(
    store: Store, clock: FixedClock, service: Service
) -> None:
    config = RemindersConfig(delays_hours=(24, 72))
    await new_campaign(store, clock, "rappels")
    for text in ("/start rappels", "1", "une idée"):
        await service.handle(message("ana", text))
    clock.advance(hours=23)
    assert await send_due_reminders(store, config, clock()) == 0
    clock.advance(hours=1)  # 24 h after the last answer, 11:00 in Paris
    assert await send_due_reminders(store, config, clock()) == 1
    assert await send_due_reminders(store, config, clock()) == 0  # never twice
    clock.advance(hours=48)
    assert await send_due_reminders(store, config, clock()) == 1
    clock.advance(hours=200)
    assert await send_due_reminders(store, config, clock()) == 0  # at most two
    reminders = [t for t in await outbox_texts(store, "ana") if "Vous aviez commencé" in t]
    assert len(reminders) == 2
    # Answering again starts a new cycle.
    await service.handle(message("ana", "une autre idée"))
    clock.advance(hours=25)
    assert await send_due_reminders(store, config, clock()) == 1


async def test_no_reminder_in_quiet_hours_or_after_stop(
    store: Store, clock: FixedClock, service: Service
) -> None:
    config = RemindersConfig(delays_hours=(24,))
    clock.now = datetime(2026, 1, 15, 20, 30, tzinfo=UTC)  # 21:30 in Paris
    await new_campaign(store, clock, "calme")
    for user in ("ana", "ben"):
        for text in ("/start calme", "1", "une idée"):
            await service.handle(message(user, text))
    await service.handle(message("ben", "/stop"))
    clock.advance(hours=24)  # 21:30 the next day: quiet
    assert await send_due_reminders(store, config, clock()) == 0
    clock.now = datetime(2026, 1, 17, 8, 0, tzinfo=UTC)  # 09:00 in Paris
    assert await send_due_reminders(store, config, clock()) == 1
    assert [t for t in await outbox_texts(store, "ben") if "Vous aviez commencé" in t] == []


async def test_invitations_reach_consenting_citizens_once(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(store, clock, "ancienne")
    for user in ("ana", "ben", "cyd"):
        await service.handle(message(user, "/start ancienne"))
    await service.handle(message("ana", "1"))
    await service.handle(message("ben", "1"))
    await service.handle(message("ben", "/stop"))  # ben said stop: never invited
    await new_campaign(store, clock, "nouvelle", open_now=False)
    async with store.transaction() as tx:
        campaign = await set_status(tx, "nouvelle", CampaignStatus.OPEN, clock())
        assert await invite(tx, campaign, clock()) == 1  # ana only (cyd never consented)
    async with store.transaction() as tx:
        assert await invite(tx, campaign, clock()) == 0  # a re-run after a crash: nobody twice
    assert len([t for t in await outbox_texts(store, "ana") if "/start nouvelle" in t]) == 1


async def test_invitations_come_in_each_citizens_language(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(store, clock, "ancienne")
    for user in ("ana", "dan"):
        await service.handle(message(user, "/start ancienne"))
        await service.handle(message(user, "1"))
    await service.handle(message("dan", "/langue en"))
    await new_campaign(store, clock, "nouvelle", open_now=False)
    async with store.transaction() as tx:
        campaign = await set_status(tx, "nouvelle", CampaignStatus.OPEN, clock())
        assert await invite(tx, campaign, clock()) == 2
    catalog = default_catalog()
    for user, language in (("ana", "fr"), ("dan", "en")):
        invitation = catalog.t(
            language, "campaign_invitation", title=campaign.title, slug=campaign.slug
        )
        assert (await outbox_texts(store, user)).count(invitation) == 1


async def test_closing_notices_come_in_each_citizens_language_once(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(store, clock, "fermee")
    for user in ("ana", "dan", "eve"):
        await service.handle(message(user, "/start fermee"))
        await service.handle(message(user, "1"))
    await service.handle(message("dan", "/langue en"))
    await service.handle(message("eve", "/stop"))
    async with store.transaction() as tx:
        campaign = await set_status(tx, "fermee", CampaignStatus.CLOSED, clock())
    async with store.transaction() as tx:
        assert await notify_closed(tx, campaign, clock()) == 0  # a second process: nobody twice
    catalog = default_catalog()
    for user, language in (("ana", "fr"), ("dan", "en")):
        notice = catalog.t(language, "campaign_closed_notice", title=campaign.title)
        assert (await outbox_texts(store, user)).count(notice) == 1
    assert not [t for t in await outbox_texts(store, "eve") if "close" in t]


async def test_facilitator_roles_granted_by_admin_in_chat(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(store, clock, "une")
    await new_campaign(store, clock, "deux")
    refused = await service.handle(message("bob", "/facilitateur ajouter test:bob une"))
    assert "réservée" in refused.replies[0].text
    granted = await service.handle(message("admin", "/facilitateur ajouter test:bob une"))
    assert "test:bob est maintenant" in granted.replies[0].text
    ok = await service.handle(message("bob", "/stats une"))
    assert "Campagne une" in ok.replies[0].text
    # Outside his scope, a campaign reads as one that does not exist.
    other = await service.handle(message("bob", "/stats deux"))
    assert "aucune campagne ne s’appelle «\u00a0deux\u00a0»" in other.replies[0].text
    role = await service.handle(message("bob", "/facilitateur ajouter test:eve"))
    assert "administrateurs" in role.replies[0].text
    await service.handle(message("admin", "/facilitateur retirer test:bob une"))
    again = await service.handle(message("bob", "/stats une"))
    assert "réservée" in again.replies[0].text


async def test_close_by_facilitator_notifies_and_relancer_respects_stop(
    store: Store, clock: FixedClock, service: Service
) -> None:
    await new_campaign(store, clock, "fermee")
    for user in ("ana", "ben"):
        for text in ("/start fermee", "1"):
            await service.handle(message(user, text))
    await service.handle(message("ben", "/stop"))
    reminded = await service.handle(message("admin", "/relancer fermee"))
    assert reminded.replies[0].text.startswith("1 relance part maintenant.")
    closed = await service.handle(message("admin", "/cloturer fermee"))
    assert "clôturée" in closed.replies[0].text
    assert len([t for t in await outbox_texts(store, "ana") if "maintenant close" in t]) == 1
    assert [t for t in await outbox_texts(store, "ben") if "close" in t] == []


async def test_signing_replaces_the_pseudonym_in_exports_only_when_chosen(
    store: Store, clock: FixedClock, service: Service
) -> None:
    from qn_bot.exporters import export_campaign

    await new_campaign(store, clock, "signee")
    for user in ("ana", "ben"):
        for text in ("/start signee", "1", f"idée de {user}"):
            await service.handle(message(user, text))
    signed = await service.handle(message("ana", "/signer Ana Lopez"))
    assert "Ana Lopez" in signed.replies[0].text
    async with store.transaction() as tx:
        exported = await export_campaign(tx, "signee", "csv", None, clock())
    assert "Ana Lopez" in exported
    assert "P-0002" in exported  # ben stays anonymous
    assert "test" not in exported.replace("signee", "")  # no platform name, no platform ids
    await service.handle(message("ana", "/signer"))
    async with store.transaction() as tx:
        exported = await export_campaign(tx, "signee", "csv", None, clock())
    assert "Ana Lopez" not in exported
