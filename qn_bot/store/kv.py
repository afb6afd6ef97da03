"""Key-value state: the `kv` table as a repository, and the key-value port adapters use for
their durable state on top of it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from qn_bot.clock import Clock
from qn_bot.domain import Address, UserRef
from qn_bot.store import schema as t
from qn_bot.store.repository import Repository

if TYPE_CHECKING:  # the store makes the repositories: importing it here would be a loop
    from qn_bot.store.sql import Store


class SqlKeyValues(Repository):
    """Small durable values (adapter state), by key."""

    __slots__ = ()

    async def kv_get(self, key: str, *, for_update: bool = False) -> Any:
        stmt = select(t.kv.c.value).where(t.kv.c.key == key)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return None if row is None else row[0]

    async def kv_set(
        self, key: str, value: Any, now: datetime, *, subject: str | None = None
    ) -> None:
        """``subject``: whom the value is about ("platform:id"), erased with them."""
        stmt = self._insert(t.kv).values(key=key, value=value, updated_at=now, subject=subject)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.kv.c.key],
            set_={"value": value, "updated_at": now, "subject": subject},
        )
        await self.conn.execute(stmt)

    async def kv_delete(self, key: str) -> None:
        await self.conn.execute(delete(t.kv).where(t.kv.c.key == key))

    async def purge_adapter_state(self, before: datetime) -> int:
        """Adapter state about someone, untouched since ``before``."""
        kv = t.kv.c
        result = await self.conn.execute(
            delete(t.kv).where(kv.subject.is_not(None), kv.updated_at < before)
        )
        return int(result.rowcount)


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
            return await tx.kv.kv_get(f"{self.namespace}:{key}")

    async def set(self, key: str, value: Any, *, about: UserRef | Address | None = None) -> None:
        subject = None if about is None else str(about)
        async with self.store.transaction(urgent=True) as tx:
            await tx.kv.kv_set(f"{self.namespace}:{key}", value, self.clock(), subject=subject)

    async def delete(self, key: str) -> None:
        async with self.store.transaction(urgent=True) as tx:
            await tx.kv.kv_delete(f"{self.namespace}:{key}")
