"""One pacing layer per platform: the outbox paces a platform's sends at its declared
``messages_per_second``, unless the adapter declares that it paces them itself (Telegram, whose
per-chat and per-bot windows are measured in adapters/telegram/pacing.py)."""

from __future__ import annotations

import asyncio

from qn_bot.clock import utcnow
from qn_bot.domain import Address, OutboundMessage
from qn_bot.outbox import OutboxWorker
from qn_bot.ports import Capabilities
from qn_bot.store.sql import Store
from tests.contract.test_outbox import FAST, PLATFORM, RecordingAdapter

RATE = 2.0
MESSAGES = 8  # at 2/s after a burst of 2: three seconds when paced


class SlowPlatform(RecordingAdapter):
    capabilities = Capabilities(messages_per_second=RATE)


class SelfPacedPlatform(RecordingAdapter):
    capabilities = Capabilities(messages_per_second=RATE, paces_itself=True)


async def _drain_seconds(store: Store, adapter: RecordingAdapter) -> float:
    async with store.transaction() as tx:
        for n in range(MESSAGES):
            await tx.outbox.enqueue(
                Address(PLATFORM, f"chat-{n}"), OutboundMessage(f"m{n}"), utcnow()
            )
    worker = OutboxWorker(store, {PLATFORM: adapter}, config=FAST)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await worker.drain(within=60)
    assert len(adapter.sent) == MESSAGES
    return loop.time() - start


async def test_the_outbox_paces_a_platform_at_its_declared_rate(store: Store) -> None:
    assert await _drain_seconds(store, SlowPlatform()) >= (MESSAGES - RATE) / RATE - 0.5


async def test_an_adapter_that_paces_itself_is_not_paced_twice(store: Store) -> None:
    assert await _drain_seconds(store, SelfPacedPlatform()) < 1.5
