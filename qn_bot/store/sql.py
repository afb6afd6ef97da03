"""The SQL store: qn-bot's database, on SQLite or PostgreSQL, and its transactions.

Work happens inside ``async with store.transaction() as tx``: everything done through ``tx``'s
repositories (``tx.campaigns``, ``tx.participants``, ``tx.sessions``, ``tx.outbox``… one module
each in qn_bot/store/) commits together or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qn_bot.store.audiences import SqlAudiences
from qn_bot.store.campaigns import SqlCampaigns
from qn_bot.store.database import READ_ONLY, create_engine, database_errors
from qn_bot.store.digest_reads import SqlDigestReads
from qn_bot.store.facilitators import SqlFacilitators
from qn_bot.store.idempotency import SqlIdempotency
from qn_bot.store.kv import SqlKeyValues
from qn_bot.store.moderation import SqlModeration
from qn_bot.store.outbox import SqlOutbox
from qn_bot.store.participants import SqlParticipants
from qn_bot.store.repository import Work
from qn_bot.store.sessions import SqlSessions
from qn_bot.store.theme_history import SqlThemeHistory
from qn_bot.store.transcripts import SqlTranscripts
from qn_bot.store.vectors import SqlItemVectors
from qn_bot.store.votes import SqlVotes
from qn_bot.store.writer_queue import WriterQueue

if TYPE_CHECKING:
    from qn_bot.repositories import CompactedDatabase

log = logging.getLogger(__name__)

#: After a write that erased something, the WAL is checkpointed and truncated at once and again
#: after these delays (s): what the erasure let other parts rewrite shortly after (an adapter's
#: receive journal, the goodbye once sent) leaves the file too.
SCRUB_DELAYS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
#: A checkpoint waits this long (ms) for readers to move on, then is tried again later.
CHECKPOINT_BUSY_MS = 250
#: Free pages handed back to the file system per transaction (4 KiB each).
VACUUM_PAGES = 2000


class Tx(Work):
    """One open transaction: the unit of work. Obtain it from :meth:`Store.transaction`; its
    repositories, one per concern, work on its connection and commit together."""

    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__(conn)
        self.idempotency = SqlIdempotency(self)
        self.campaigns = SqlCampaigns(self)
        self.participants = SqlParticipants(self)
        self.audiences = SqlAudiences(self)
        self.sessions = SqlSessions(self)
        self.outbox = SqlOutbox(self)
        self.facilitators = SqlFacilitators(self)
        self.kv = SqlKeyValues(self)
        self.transcripts = SqlTranscripts(self)
        self.digest = SqlDigestReads(self)
        self.moderation = SqlModeration(self)
        self.votes = SqlVotes(self)
        self.vectors = SqlItemVectors(self)
        self.theme_history = SqlThemeHistory(self)


def _checkpoint(path: str) -> bool:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}")
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return bool(busy == 0)


#: The SQLite store whose writer lock the current task holds (to fail fast, not deadlock).
_holding: ContextVar[Store | None] = ContextVar("qn_bot_store_holding", default=None)


class Store:
    """Owns the database engine; hands out transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # SQLite: our own writers take turns (see writer_queue.py); busy_timeout is left for
        # other processes.
        self._writers = WriterQueue() if engine.dialect.name == "sqlite" else None
        self._scrubber: asyncio.Task[None] | None = None
        self._scrub_again = asyncio.Event()

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(create_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[Tx]:
        """A read-write transaction. ``urgent``: a tiny write that everything else waits for
        (an adapter's receive journal) — on SQLite it goes before the writers already queued."""
        if self._writers is None:
            async with database_errors(self.engine.url), self.engine.begin() as conn:
                yield Tx(conn)
            return
        if _holding.get() is self:
            raise RuntimeError("a transaction inside a transaction of one SQLite store deadlocks")
        async with self._writers.turn(urgent=urgent):
            token = _holding.set(self)
            try:
                async with database_errors(self.engine.url), self.engine.begin() as conn:
                    tx = Tx(conn)
                    yield tx
            finally:
                _holding.reset(token)
        if tx.erased:
            self.scrub()

    # ------------------------------------------------------------------ SQLite's files

    def _sqlite_path(self) -> str | None:
        database = make_url(self.engine.url).database
        return database if database and database != ":memory:" else None

    def scrub(self) -> None:
        """Something was erased: on SQLite, checkpoint and truncate the WAL now and a few times
        in the next seconds (:data:`SCRUB_DELAYS`), so that the pages that held it leave the
        journal once the main file has their new, zeroed version (secure_delete). Each request
        starts the series again. On PostgreSQL freed space is VACUUM's business."""
        if self._writers is None or self._sqlite_path() is None:
            return
        if self._scrubber is not None and not self._scrubber.done():
            self._scrub_again.set()
            return
        self._scrubber = asyncio.get_running_loop().create_task(self._scrub(), name="scrub-wal")

    async def _scrub(self) -> None:
        index = 0
        while index < len(SCRUB_DELAYS):
            self._scrub_again.clear()
            try:
                await asyncio.wait_for(self._scrub_again.wait(), SCRUB_DELAYS[index])
                index = 0  # erased again meanwhile: start the series over
                continue
            except TimeoutError:
                pass
            try:
                await self.checkpoint()
            except Exception:  # the file may be briefly unavailable: the next try will do
                log.warning("checkpoint of the database journal failed", exc_info=True)
            index += 1

    async def checkpoint(self) -> bool:
        """SQLite: copy the WAL into the main file and truncate it to nothing; False when a
        reader kept it from completing (tried again later). True on PostgreSQL."""
        path = self._sqlite_path()
        if path is None:
            return True
        return await asyncio.to_thread(_checkpoint, path)

    async def release_free_pages(self) -> int:
        """SQLite: hand the free pages back to the file system (incremental auto-vacuum), a
        bounded number per transaction; returns how many. PostgreSQL: 0 (VACUUM does it)."""
        if self._writers is None:
            return 0
        released = 0
        while True:
            async with self.transaction() as tx:
                free = int((await tx.conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one())
                if free == 0:
                    return released
                await tx.conn.exec_driver_sql(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
                after = int((await tx.conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one())
            if after >= free:  # auto_vacuum is not incremental on this file: nothing to do
                return released
            released += free - after

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Tx]:
        """A transaction that only reads (digests, exports): on SQLite it takes neither our
        writer lock nor the database's, so answers keep flowing while it runs; it sees the
        database as of its first read. Writing through it is a bug (SQLite refuses: the
        snapshot cannot be upgraded once a writer has committed)."""
        if self._writers is None:
            async with database_errors(self.engine.url), self.engine.connect() as conn:
                # One snapshot for the whole read: a digest's counts and items agree.
                await conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
                async with conn.begin():
                    yield Tx(conn)
            return
        async with database_errors(self.engine.url), self.engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                yield Tx(conn)

    async def close(self) -> None:
        scrubber, self._scrubber = self._scrubber, None
        if scrubber is not None and not scrubber.done():
            scrubber.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scrubber
            # What the series would still have done, once: the last words of an erasure.
            with contextlib.suppress(Exception):
                await self.checkpoint()
        in_use = getattr(self.engine.pool, "checkedout", lambda: 0)()
        if in_use:
            # A task still inside a transaction: its connection outlives the pool (on SQLite,
            # with the thread aiosqlite gives it, which keeps the process from exiting).
            log.warning("closing the database with %d connection(s) still in use", in_use)
        await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


if TYPE_CHECKING:
    # mypy proves that the store is what the service, the outbox worker and the digest take
    # (qn_bot.repositories.Database; retention its CompactedDatabase), and so each repository
    # its Protocol.

    def _is_a_database(store: Store) -> CompactedDatabase:
        return store
