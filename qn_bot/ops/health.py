"""Is this process able to serve? The database answers and every adapter says it is connected."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from qn_bot.ports import Adapter
from qn_bot.repositories import Database

#: A database slower than this to answer `SELECT 1` is reported as not answering.
DATABASE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    checks: dict[str, str] = field(default_factory=dict)  # name → "ok" or the reason

    def as_json(self) -> dict[str, object]:
        return {"status": "ok" if self.ok else "unavailable", "checks": self.checks}


async def database_answers(store: Database, limit: float = DATABASE_TIMEOUT) -> str | None:
    """None when a read answers within ``limit`` seconds; else why not. A read, so that a long write
    elsewhere (a backup, a migration) does not make the bot look dead."""
    try:
        async with asyncio.timeout(limit), store.snapshot() as tx:
            await tx.outbox.outbox_pending(())  # one indexed read: the database answers
    except TimeoutError:
        return f"database did not answer within {limit:g} s"
    except Exception as exc:
        return f"database error: {type(exc).__name__}: {exc}".splitlines()[0]
    return None


async def check(store: Database, adapters: Mapping[str, Adapter]) -> Health:
    checks: dict[str, str] = {}
    problem = await database_answers(store)
    checks["database"] = problem or "ok"
    for name, adapter in sorted(adapters.items()):
        try:
            reason = adapter.health()
        except Exception as exc:  # a broken health check is itself a failed check
            reason = f"health check failed: {type(exc).__name__}"
        checks[name] = reason or "ok"
    return Health(all(v == "ok" for v in checks.values()), checks)


async def outbox_backlog(store: Database, now: datetime) -> dict[str, tuple[int, datetime | None]]:
    """platform → (messages waiting, since when the oldest one waits)."""
    async with store.snapshot() as tx:
        return await tx.outbox.outbox_backlog(now)
