"""Idempotency: the keys of handled inbound messages and of claimed scheduled jobs.

A redelivered message finds its key and changes nothing; a job two processes both start runs
once, for the one that claimed its key first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, tuple_, update

from qn_bot.store import schema as t
from qn_bot.store.repository import Repository
from qn_bot.store.rows import by_platform, message_key


class SqlIdempotency(Repository):
    """Message keys and job claims."""

    __slots__ = ()

    async def claim_message(
        self, platform: str, message_id: str, now: datetime, participant_id: int | None = None
    ) -> bool:
        """Record an inbound message id; False when it was already handled (a redelivery)."""
        stmt = (
            self._insert(t.processed_messages)
            .values(
                platform=platform,
                message_id=message_key(message_id),
                processed_at=now,
                participant_id=participant_id,
            )
            .on_conflict_do_nothing()
        )
        result = await self.conn.execute(stmt)
        return bool(result.rowcount == 1)

    async def attach_message(self, platform: str, message_id: str, participant_id: int) -> None:
        """Tie a claimed message key to its sender (erased with them by /oublier)."""
        await self.conn.execute(
            update(t.processed_messages)
            .where(
                t.processed_messages.c.platform == platform,
                t.processed_messages.c.message_id == message_key(message_id),
            )
            .values(participant_id=participant_id)
        )

    async def claim_job(self, key: str, owner: str, now: datetime) -> bool:
        """Exactly-once scheduled work: only the first claimant of ``key`` gets True."""
        stmt = (
            self._insert(t.job_runs)
            .values(key=key, claimed_by=owner, claimed_at=now)
            .on_conflict_do_nothing()
        )
        result = await self.conn.execute(stmt)
        return bool(result.rowcount == 1)

    async def already_claimed(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (platform, message id) keys were handled before (redeliveries)."""
        pm = t.processed_messages
        claimed: set[tuple[str, str]] = set()
        for platform, ids in by_platform(keys):
            by_key = {message_key(m): m for m in ids}
            stmt = select(pm.c.message_id).where(
                pm.c.platform == platform, pm.c.message_id.in_(list(by_key))
            )
            claimed.update((platform, by_key[k]) for k in (await self.conn.execute(stmt)).scalars())
        return claimed

    async def purge_message_keys(self, before: datetime, *, limit: int) -> int:
        pm = t.processed_messages.c
        old = select(pm.platform, pm.message_id).where(pm.processed_at < before)
        result = await self.conn.execute(
            delete(t.processed_messages).where(
                tuple_(pm.platform, pm.message_id).in_(self._batch(old, limit))
            )
        )
        return int(result.rowcount)
