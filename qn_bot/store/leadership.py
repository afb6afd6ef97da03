"""Exclusive roles as PostgreSQL advisory locks (the port is :mod:`qn_bot.leadership`).

A role is a session-level advisory lock, held on a connection of its own that stays open for as
long as the role is held: when the holder dies, even by SIGKILL, the server drops the connection
and the lock with it, and a waiting process — which tries again every second — takes the role
over. The holder checks its connection every second; if it breaks, the role is lost and the work
stops (the lock may already be someone else's).

SQLite means one process per database file, so every role is simply granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from qn_bot.leadership import Granted, Leadership, Lease
from qn_bot.store.database import async_url, check_url

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # a waiting process tries to take the role this often
CHECK_SECONDS = 1.0  # the holder checks its connection this often
CHECK_TIMEOUT = 5.0  # a check slower than this counts as a lost connection
CLOSE_TIMEOUT = 5.0


def role_key(role: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (``hash()`` changes per process)."""
    digest = hashlib.sha256(f"qn-bot:{role}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLeadership(Leadership):
    """Roles as PostgreSQL advisory locks, each on a dedicated connection (not from the pool)."""

    def __init__(
        self,
        url: str | URL,
        *,
        retry: float = RETRY_SECONDS,
        check: float = CHECK_SECONDS,
        check_timeout: float = CHECK_TIMEOUT,
    ) -> None:
        if isinstance(url, URL):
            url = url.render_as_string(hide_password=False)
        self.retry = retry
        self.check = check
        self.check_timeout = check_timeout
        url = async_url(url)
        check_url(make_url(url))
        self._engine: AsyncEngine = create_async_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",  # the lock is the session's, no transaction stays open
            # Lets an operator see who holds what: pg_locks joined with pg_stat_activity.
            connect_args={"server_settings": {"application_name": f"qn-bot leader {os.getpid()}"}},
        )

    @asynccontextmanager
    async def hold(self, role: str) -> AsyncIterator[Lease]:
        key = role_key(role)
        conn = await self._acquire(role, key)
        lease = Lease(role)
        log.info("this process (pid %d) now holds the role %s", os.getpid(), role)
        watcher = asyncio.create_task(self._watch(conn, lease), name=f"leadership-{role}")
        try:
            yield lease
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            if not lease.lost.is_set():
                lease.lost.set()
                log.info("role %s released", role)
            # Closing the session releases the lock; no explicit unlock needed.
            await self._close(conn)

    async def _acquire(self, role: str, key: int) -> AsyncConnection:
        conn: AsyncConnection | None = None
        waiting_logged = False
        while True:
            try:
                if conn is None:
                    conn = await self._engine.connect()
                got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
                if got:
                    return conn
                if not waiting_logged:
                    log.info("role %s is held by another process; waiting to take it over", role)
                    waiting_logged = True
            except asyncio.CancelledError:
                if conn is not None:
                    await self._close(conn)
                raise
            except Exception as exc:
                log.warning("cannot ask for the role %s (%s); retrying", role, exc)
                if conn is not None:
                    await self._close(conn)
                conn = None
            await asyncio.sleep(self.retry)

    async def vacant(self, role: str) -> bool:
        key = role_key(role)
        async with self._engine.connect() as conn:
            if not await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
                return False
            await conn.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            return True

    async def _watch(self, conn: AsyncConnection, lease: Lease) -> None:
        """The lock lives exactly as long as the session: a failed check means it is gone."""
        while True:
            await asyncio.sleep(self.check)
            try:
                async with asyncio.timeout(self.check_timeout):
                    await conn.scalar(text("SELECT 1"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("role %s lost: its database connection failed (%s)", lease.role, exc)
                lease.lost.set()
                return

    async def _close(self, conn: AsyncConnection) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await conn.close()
        except Exception:
            with contextlib.suppress(Exception):
                await conn.invalidate()

    async def close(self) -> None:
        await self._engine.dispose()


def leadership_for(url: str | URL) -> Leadership:
    """Advisory locks on PostgreSQL; every role granted on SQLite (one process per file)."""
    parsed = url if isinstance(url, URL) else make_url(async_url(url))
    if parsed.get_backend_name() == "postgresql":
        return PostgresLeadership(parsed)
    return Granted()
