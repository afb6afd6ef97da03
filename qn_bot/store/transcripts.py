"""Transcripts: the conversation kept for a platform that shows it itself (the web chat), one
row per message; and the port adapters write it through, by group commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, text

from qn_bot.clock import Clock
from qn_bot.domain import UserRef
from qn_bot.ports import TranscriptNews, TranscriptRow, TranscriptWatcher
from qn_bot.store import schema as t
from qn_bot.store.repository import Repository
from qn_bot.store.transcript_notices import CHANNEL, TranscriptNotices, is_postgresql

if TYPE_CHECKING:  # the store makes the repositories: importing it here would be a loop
    from qn_bot.store.sql import Store

log = logging.getLogger(__name__)


class SqlTranscripts(Repository):
    """Append-only rows by subject; read after an id."""

    __slots__ = ()

    async def append_many(self, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
        """Insert ``rows`` (subject, role, body, key, created_at) in order; the ids given, by
        (subject, key). A key already there (a post sent twice) is skipped, not given."""
        if not rows:
            return {}
        c = t.transcripts.c
        stmt = (
            self._insert(t.transcripts)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[c.subject, c.client_id])
            .returning(c.id, c.subject, c.client_id)
        )
        result = await self.conn.execute(stmt)
        ids = {(str(r.subject), str(r.client_id)): int(r.id) for r in result}
        if ids and self.dialect == "postgresql":
            # Delivered at commit, to every process listening (adapters/web's event streams
            # may be open on another `qn-bot run` than the one that wrote).
            newest: dict[str, int] = {}
            for (subject, _), row_id in ids.items():
                newest[subject] = max(row_id, newest.get(subject, 0))
            await self.conn.execute(
                text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p"),
                {"channel": CHANNEL, "payloads": [f"{n} {s}" for s, n in newest.items()]},
            )
        return ids

    async def after(self, subject: str, after: int, limit: int | None = None) -> list[Any]:
        c = t.transcripts.c
        stmt = (
            select(c.id, c.role, c.body, c.client_id)
            .where(c.subject == subject, c.id > after)
            .order_by(c.id)
            .limit(limit)
        )
        return list(await self.conn.execute(stmt))

    async def latest(self, subject: str, limit: int) -> list[Any]:
        c = t.transcripts.c
        stmt = (
            select(c.id, c.role, c.body, c.client_id)
            .where(c.subject == subject)
            .order_by(c.id.desc())
            .limit(limit)
        )
        return list(await self.conn.execute(stmt))

    async def purge_transcripts(self, before: datetime) -> int:
        """Every row of the subjects whose newest row is older than ``before``."""
        c = t.transcripts.c
        stale = select(c.subject).group_by(c.subject).having(func.max(c.created_at) < before)
        result = await self.conn.execute(delete(t.transcripts).where(c.subject.in_(stale)))
        return int(result.rowcount)


def _person(subject: str) -> UserRef:
    platform, _, user_id = subject.partition(":")
    return UserRef(platform, user_id)


def _row(row: Any) -> TranscriptRow:
    return TranscriptRow(int(row.id), str(row.role), dict(row.body), str(row.client_id))


class StoreTranscripts:
    """:class:`~qn_bot.ports.Transcripts` on the store. Appends wait for their commit, and the
    appends of every citizen made while one commit runs go together in the next: one
    transaction and one statement for many messages, whatever the load. Watchers hear of every
    row kept: this process's own rows in memory, other processes' through PostgreSQL's
    notifications (store/transcript_notices.py)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._pending: list[tuple[dict[str, Any], asyncio.Future[int | None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._watchers: list[TranscriptWatcher] = []
        self._notices: TranscriptNotices | None = None

    def watch(self, watcher: TranscriptWatcher) -> None:
        self._watchers.append(watcher)
        url = self.store.engine.url.render_as_string(hide_password=False)
        if self._notices is None and is_postgresql(url):
            self._notices = TranscriptNotices(url, self._heard, self._gap)
            self._notices.start()

    async def close(self) -> None:
        notices, self._notices = self._notices, None
        if notices is not None:
            await notices.close()

    def kept(self, news: Sequence[TranscriptNews]) -> None:
        """Rows this process kept, once committed: told to the watchers."""
        if not news:
            return
        for watcher in self._watchers:
            try:
                watcher(news)
            except Exception:  # one broken watcher must not keep the rows from the others
                log.exception("a transcript watcher failed")

    def _heard(self, subject: str, newest: int) -> None:
        self.kept([TranscriptNews(_person(subject), newest)])

    def _gap(self) -> None:
        """Notifications may have been missed: every watcher reads what it has not seen."""
        self.kept([TranscriptNews(None, 0)])

    async def append(
        self, about: UserRef, role: str, body: dict[str, Any], key: str
    ) -> TranscriptRow | None:
        row = {
            "subject": str(about),
            "role": role,
            "body": body,
            "client_id": key,
            "created_at": self.clock(),
        }
        done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        given = await asyncio.shield(done)  # a caller gone does not undo a row being written
        return None if given is None else TranscriptRow(given, role, body, key)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                # Urgent: tiny, and a citizen's reply waits on it.
                async with self.store.transaction(urgent=True) as tx:
                    ids = await tx.transcripts.append_many([row for row, _ in batch])
            except Exception as error:  # every waiter hears of it; the next batch tries again
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                continue
            news: list[TranscriptNews] = []
            for row, done in batch:
                # A key twice in one batch: the first gets the row, the repeat None.
                given = ids.pop((row["subject"], row["client_id"]), None)
                if given is not None:
                    kept = TranscriptRow(given, row["role"], row["body"], row["client_id"])
                    news.append(TranscriptNews(_person(row["subject"]), given, (kept,)))
                if not done.done():
                    done.set_result(given)
            self.kept(news)

    async def after(self, about: UserRef, after: int = 0) -> list[TranscriptRow]:
        async with self.store.snapshot() as tx:  # a read: it waits for no writer
            return [_row(r) for r in await tx.transcripts.after(str(about), after)]

    async def latest(self, about: UserRef, limit: int) -> list[TranscriptRow]:
        async with self.store.snapshot() as tx:
            return [_row(r) for r in await tx.transcripts.latest(str(about), limit)]
