"""Two scheduler processes on one database: every transition and reminder happens once."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.domain import Address, CampaignStatus, InboundKind, InboundMessage, UserRef
from qn_bot.flows.loader import resolve_flow
from qn_bot.service import Service
from qn_bot.store import schema
from qn_bot.store.sql import Store

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris

# Each process waits for the go file, then runs one campaign tick and one reminder pass at the
# same injected instant: both see the same due work and race for it.
WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from datetime import datetime
    from pathlib import Path
    from qn_bot.config import Config
    from qn_bot.scheduler import Scheduler
    from qn_bot.store.sql import Store

    url, go, now = sys.argv[1], Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3])

    async def main() -> None:
        store = Store.from_url(url)
        scheduler = Scheduler(store, Config(), clock=lambda: now)
        while not go.exists():
            time.sleep(0.005)
        changed = await scheduler.tick_campaigns()
        reminded = await scheduler.tick_reminders()
        await store.close()
        print(changed, reminded)

    asyncio.run(main())
    """
)


def message(user: str, text: str, n: int) -> InboundMessage:
    return InboundMessage(
        sender=UserRef("test", user),
        address=Address("test", user),
        message_id=f"{user}-{n}",
        kind=InboundKind.TEXT,
        text=text,
    )


async def test_two_scheduler_processes_share_one_database(
    tmp_path: Path, migrated_url: str
) -> None:
    url = migrated_url  # SQLite, and PostgreSQL when configured
    store = Store.from_url(url)
    try:
        async with store.transaction() as tx:
            flow = resolve_flow("construire-2030")
            await create_campaign(tx, slug="idle", flow=flow, title="Idle", now=START)
            await set_status(tx, "idle", CampaignStatus.OPEN, START)
            await create_campaign(
                tx,
                slug="later",
                flow=flow,
                title="Later",
                now=START,
                opens_at=START + timedelta(hours=25),
            )
        service = Service(store, clock=lambda: START)
        for user in ("ana", "ben", "cyd"):
            for n, text in enumerate(("/start idle", "1", "une idée")):
                await service.handle(message(user, text, n))
    finally:
        await store.close()

    now = (START + timedelta(hours=25)).isoformat()  # reminders due, "later" opens
    go = tmp_path / "go"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            url,
            str(go),
            now,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    await asyncio.sleep(1.5)  # both imported and waiting
    go.touch()
    outputs = [await asyncio.wait_for(proc.communicate(), timeout=60) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    totals = [tuple(int(x) for x in out.split()) for out, _ in outputs]
    assert sum(changed for changed, _ in totals) == 1  # "later" opened by one process only
    assert sum(reminded for _, reminded in totals) == 3  # one reminder per citizen, in all

    store = Store.from_url(url)
    try:
        async with store.transaction() as tx:
            later = await tx.campaigns.campaign_by_slug("later")
            rows = (
                await tx.conn.execute(
                    select(schema.outbox.c.chat_id, schema.outbox.c.dedupe_key).where(
                        schema.outbox.c.dedupe_key.like("reminder:%")
                    )
                )
            ).all()
    finally:
        await store.close()
    assert later is not None
    assert later.status is CampaignStatus.OPEN
    assert sorted(r.chat_id for r in rows) == ["ana", "ben", "cyd"]
