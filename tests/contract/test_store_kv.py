"""The storage contract of key-value state (qn_bot/store/kv.py), on every backend.

Every test gets a fresh migrated database (see tests/conftest.py) and uses the real store.
"""

from __future__ import annotations

from datetime import timedelta

from qn_bot.store import schema as t
from qn_bot.store.sql import Store
from tests.conftest import T0
from tests.contract.store_helpers import count


async def test_kv_set_is_an_upsert(store: Store) -> None:
    async with store.transaction() as tx:
        assert await tx.kv.kv_get("adapter:test:offset") is None
        await tx.kv.kv_set("adapter:test:offset", 41, T0)
        await tx.kv.kv_set("adapter:test:device", {"id": "ABC", "keys": [1, 2]}, T0)
    async with store.transaction() as tx:
        assert await tx.kv.kv_get("adapter:test:offset") == 41
        await tx.kv.kv_set("adapter:test:offset", 42, T0 + timedelta(seconds=1))
    async with store.transaction() as tx:
        assert await tx.kv.kv_get("adapter:test:offset") == 42
        assert await tx.kv.kv_get("adapter:test:device") == {"id": "ABC", "keys": [1, 2]}
        assert await count(tx, t.kv) == 2
