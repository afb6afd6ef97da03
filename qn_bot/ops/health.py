"""Is this process able to serve? The database answers and every adapter says it is connected."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from qn_bot.ports import Adapter
from qn_bot.store import schema as t
from qn_bot.store.sql import Store

#: A database slower than this to answer `SELECT 1` is reported as not answering.
DATABASE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    checks: dict[str, str] = field(default_factory=dict)  # name → "ok" or the reason

    def as_json(self) -> dict[str, object]:
        return {"status": "ok" if self.ok else "unavailable", "checks": self.checks}


async def database_answers(store: Store, limit: float = DATABASE_TIMEOUT) -> str | None:
    """None when a read answers within ``limit`` seconds; else why not. A read, so that a long write
    elsewhere (a backup, a migration) does not make the bot look dead."""
    try:
        async with asyncio.timeout(limit), store.snapshot() as tx:
            await tx.conn.execute(text("SELECT 1"))
    except TimeoutError:
        return f"database did not answer within {limit:g} s"
    except Exception as exc:
        return f"database error: {type(exc).__name__}: {exc}".splitlines()[0]
    return None


async def check(store: Store, adapters: Mapping[str, Adapter]) -> Health:
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


async def outbox_backlog(store: Store) -> dict[str, tuple[int, datetime | None]]:
    """platform → (messages waiting, the oldest one's creation time)."""
    o = t.outbox.c
    stmt = (
        select(o.platform, func.count(), func.min(o.created_at))
        .where(o.status == "pending")
        .group_by(o.platform)
    )
    async with store.snapshot() as tx:
        rows = (await tx.conn.execute(stmt)).all()
    return {str(platform): (int(count), _aware(oldest)) for platform, count, oldest in rows}


def _aware(value: object) -> datetime | None:
    # min() keeps the column's type on both dialects; a string is SQLite's raw text, read back.
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
