"""The key-value port adapters use for their durable state, backed by the `kv` table."""

from __future__ import annotations

from typing import Any

from qn_bot.clock import Clock
from qn_bot.domain import Address, UserRef
from qn_bot.store.sql import Store


class StoreKeyValue:
    """Each call is its own short transaction: adapter state must not wait for anything else.
    Writes are urgent: adapters record what they received (Telegram's update journal, Matrix's
    sync token) before they may receive more."""

    def __init__(self, store: Store, clock: Clock, namespace: str) -> None:
        self.store = store
        self.clock = clock
        self.namespace = namespace

    async def get(self, key: str) -> Any:
        async with self.store.transaction() as tx:
            return await tx.kv_get(f"{self.namespace}:{key}")

    async def set(self, key: str, value: Any, *, about: UserRef | Address | None = None) -> None:
        subject = None if about is None else str(about)
        async with self.store.transaction(urgent=True) as tx:
            await tx.kv_set(f"{self.namespace}:{key}", value, self.clock(), subject=subject)

    async def delete(self, key: str) -> None:
        async with self.store.transaction(urgent=True) as tx:
            await tx.kv_delete(f"{self.namespace}:{key}")
