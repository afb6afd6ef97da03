"""/relancer at night in a real process killed by SIGKILL once it answered: what it deferred is
not lost, asking again defers nothing more, and each reminder goes once, at 9:00."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from datetime import UTC, datetime

import pytest

from qn_bot.service import Service
from qn_bot.store.sql import Store
from tests.conftest import FixedClock, Pseudonyms
from tests.contract.test_deferred_reminders import MORNING, NIGHT, reminders, say, started
from tests.contract.test_lifecycle import new_campaign
from tests.contract.test_outbox import RecordingAdapter, worker_for

pytestmark = pytest.mark.integration

RELANCER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime
    from qn_bot.domain import Address, InboundKind, InboundMessage, UserRef
    from qn_bot.service import Service
    from qn_bot.store.sql import Store

    url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])

    async def main() -> None:
        service = Service(Store.from_url(url), clock=lambda: now, admins=("test:admin",))
        admin = UserRef("test", "admin")
        message = InboundMessage(
            sender=admin, address=Address("test", "admin"), message_id="relance-1",
            kind=InboundKind.TEXT, text="/relancer nuit",
        )
        result = await service.handle(message)
        print(result.replies[0].text, flush=True)
        await asyncio.sleep(3600)  # killed here: nothing is closed, nothing cleaned up

    asyncio.run(main())
    """
)


async def test_deferred_reminders_survive_a_sigkill_once_each(
    migrated_url: str, clock: FixedClock, pseudonyms: Pseudonyms
) -> None:
    users = ["ana", "ben", "cyd"]
    store = Store.from_url(migrated_url)
    try:
        await new_campaign(store, clock, "nuit")
        await started(Service(store, clock=clock, pseudonyms=pseudonyms), "nuit", *users)
    finally:
        await store.close()

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RELANCER,
        migrated_url,
        NIGHT.isoformat(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        answer = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert answer.decode().startswith("3 relances partiront demain à 9\u00a0h\u00a000"), answer
    assert proc.returncode == -signal.SIGKILL

    clock.now = datetime(2026, 1, 15, 21, 30, tzinfo=UTC)
    store = Store.from_url(migrated_url)
    try:
        service = Service(store, clock=clock, pseudonyms=pseudonyms, admins=("test:admin",))
        assert "3 personnes ont déjà" in await say(service, "admin", "/relancer nuit")
        adapter = RecordingAdapter()
        worker = worker_for(store, adapter, clock=clock)
        await worker.drain()
        assert reminders(adapter) == []
        clock.now = MORNING
        await worker.drain()
        clock.advance(hours=1)
        await worker.drain()
    finally:
        await store.close()
    assert sorted(reminders(adapter)) == users
