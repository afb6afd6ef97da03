"""The storage contract of idempotency (qn_bot/store/idempotency.py): message keys and
job claims, on every backend.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import PLATFORM, count


async def test_claim_message_is_idempotent(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0) is True
        assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0) is False
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0 + timedelta(hours=1)) is False
        # The key is (platform, message id): another platform's id 'm-1' is another message.
        assert await tx.idempotency.claim_message("other", "m-1", T0) is True
        assert await count(tx, t.processed_messages) == 2


async def test_claim_message_rolled_back_with_its_transaction(store: Store) -> None:
    async def fails_after_claiming() -> None:
        async with store.transaction() as tx:
            assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fails_after_claiming()
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_message(PLATFORM, "m-1", T0) is True


async def test_claim_job_exactly_once(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_job("digest:equipe:2026-W03", "worker-a", T0) is True
    async with store.transaction() as tx:
        assert await tx.idempotency.claim_job("digest:equipe:2026-W03", "worker-b", T0) is False
        assert await tx.idempotency.claim_job("digest:equipe:2026-W04", "worker-b", T0) is True


async def test_claim_job_with_concurrent_claimants_has_one_winner(store: Store) -> None:
    async def claim(n: int) -> bool:
        async with store.transaction() as tx:
            won = await tx.idempotency.claim_job("reminder:mini-2030:2026-01-15", f"worker-{n}", T0)
            await asyncio.sleep(0)  # let the others try while this transaction is open
            return won

    results = await asyncio.gather(*(claim(n) for n in range(20)))
    assert results.count(True) == 1
    async with store.transaction() as tx:
        assert await count(tx, t.job_runs) == 1
