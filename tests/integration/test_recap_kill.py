"""`qn-bot recap send` killed (SIGKILL) in the middle of a wave, then run again: every citizen
gets exactly one recap, on SQLite and PostgreSQL.

Mid-wave with no hook in the code: the wave has several chunks (one transaction per ``CHUNK``
citizens, each taking tens of milliseconds); the test polls the database every few milliseconds
and kills the process as soon as a first chunk is committed — most likely inside the next
chunk's transaction — and checks that only part of the wave was in.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from qn_bot.campaigns import set_status
from qn_bot.domain import CampaignStatus
from qn_bot.recap.send import CHUNK
from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import count, make_campaign
from tests.integration.processes import QnBot, write_config

pytestmark = pytest.mark.integration

SLUG = "mini-2030"
#: Enough chunks that the wave is still going when the first one is seen committed.
CITIZENS = 5 * CHUNK
WAVE = "kill-test"
IDEAS = (
    "Des pistes cyclables partout",
    "Plus de transports en commun",
    "Des jardins partagés dans chaque quartier",
    "Des écoles rénovées",
)


async def _citizens(store: Store) -> None:
    """One open campaign of the mini flow; CITIZENS citizens with one idea each, inserted in
    bulk (the chat path is not what this test is about)."""
    async with store.transaction() as tx:
        campaign = await make_campaign(tx, SLUG, min_respondents=2)
        await set_status(tx, SLUG, CampaignStatus.OPEN, T0)
        at = T0 + timedelta(hours=1)
        people = range(1, CITIZENS + 1)
        await tx.conn.execute(
            insert(t.participants),
            [
                {
                    "id": n,
                    "platform": "test",
                    "platform_user_id": f"u{n}",
                    "pseudonym": f"P-{n:05d}",
                    "language": "fr",
                    "reply_chat_id": f"chat-{n}",
                    "stopped": False,
                    "unreachable": False,
                    "created_at": at,
                    "updated_at": at,
                }
                for n in people
            ],
        )
        await tx.conn.execute(
            insert(t.sessions),
            [
                {
                    "id": n,
                    "participant_id": n,
                    "campaign_id": campaign.id,
                    "state": {},
                    "status": "completed",
                    "completed_at": at,
                    "reminders_sent": 0,
                    "created_at": at,
                    "updated_at": at,
                }
                for n in people
            ],
        )
        await tx.conn.execute(
            insert(t.items),
            [
                {
                    "id": n,
                    "session_id": n,
                    "campaign_id": campaign.id,
                    "participant_id": n,
                    "seq": 1,
                    "step_id": "idees",
                    "text": IDEAS[n % len(IDEAS)],
                    "value": None,
                    "revision": 1,
                    "created_at": at,
                    "updated_at": at,
                }
                for n in people
            ],
        )


async def _claimed(store: Store) -> int:
    async with store.snapshot() as tx:
        return await count(tx, t.job_runs, t.job_runs.c.key.like("recap:%"))


async def _recaps(store: Store) -> dict[str, int]:
    """chat id → how many recap rows the outbox holds for it."""
    o = t.outbox.c
    async with store.snapshot() as tx:
        rows = (
            await tx.conn.execute(
                select(o.chat_id, func.count())
                .where(o.dedupe_key.like("recap:%"))
                .group_by(o.chat_id)
            )
        ).all()
    return {str(chat): int(n) for chat, n in rows}


async def test_recap_send_killed_mid_wave_then_run_again_sends_each_recap_once(
    tmp_path: Path, store: Store, migrated_url: str
) -> None:
    await _citizens(store)
    qn = QnBot(tmp_path, write_config(tmp_path, url=migrated_url))
    started = qn.start("recap", "send", SLUG, "--wave", WAVE)
    _, proc = started
    deadline = time.monotonic() + 120
    while await _claimed(store) < CHUNK:
        assert proc.poll() is None, str(qn.finish(started))
        assert time.monotonic() < deadline, "no chunk committed in 120 s"
        await asyncio.sleep(0.005)
    # The crash: wherever the process is (most likely inside the next chunk's transaction).
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    claimed = await _claimed(store)
    first = qn.finish(started)
    assert first.rc == -signal.SIGKILL, str(first)
    # Killed after whole chunks (each commits claims and recaps together), before the last.
    assert claimed % CHUNK == 0, claimed
    assert CHUNK <= claimed < CITIZENS, claimed
    assert sum((await _recaps(store)).values()) == claimed

    again = await asyncio.to_thread(qn.ok, "recap", "send", SLUG, "--wave", WAVE)
    assert f"{CITIZENS - claimed} queued, {claimed} already sent" in again.stdout, str(again)
    assert await _recaps(store) == {f"chat-{n}": 1 for n in range(1, CITIZENS + 1)}
