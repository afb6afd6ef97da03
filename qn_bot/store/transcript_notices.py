"""Transcript rows kept by other processes, heard through PostgreSQL's LISTEN/NOTIFY.

Several `qn-bot run` on one PostgreSQL: a web citizen's event stream is open on one process,
while the reply to their post may be kept by another one (the process that took the post, or
whichever outbox worker delivered a reminder). Every transaction that keeps transcript rows
notifies the channel, at its commit, with each person's newest id (store/transcripts.py); each
process listens on a connection of its own and tells its watchers, who read the rows they miss.

A notification sent while the connection was down is lost: after every (re)connection the
watchers are told to read everything after what they saw (``on_gap``). SQLite needs none of
this: one `qn-bot run` per file (store/instance.py), and the commands beside it keep no
transcript rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from qn_bot.store.database import async_url

log = logging.getLogger(__name__)

#: The channel transcript rows are announced on; the payload is "<newest id> <subject>".
CHANNEL = "qn_bot_transcripts"
CHECK_SECONDS = 5.0  # how often the listening connection is checked
CHECK_TIMEOUT = 5.0
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # waits before reconnecting, the last one repeated

#: (subject, newest id) per notification.
Heard = Callable[[str, int], None]


def parse(payload: str) -> tuple[str, int] | None:
    newest, _, subject = payload.partition(" ")
    try:
        return subject, int(newest)
    except ValueError:
        return None


class TranscriptNotices:
    """Listens while running; ``heard`` for each notification, ``on_gap`` after each
    (re)connection (notifications may have been missed)."""

    def __init__(self, url: str, heard: Heard, on_gap: Callable[[], None]) -> None:
        self.heard = heard
        self.on_gap = on_gap
        self._engine = create_async_engine(
            async_url(url),
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",  # LISTEN takes effect at once, no transaction stays open
            connect_args={"server_settings": {"application_name": f"qn-bot notices {os.getpid()}"}},
        )
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while a connection listens

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="transcript-notices")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._engine.dispose()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        parsed = parse(payload)
        if parsed is not None:
            self.heard(*parsed)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with self._engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    assert raw is not None
                    await raw.add_listener(CHANNEL, self._notified)
                    failures = 0
                    self.listening.set()
                    self.on_gap()
                    try:
                        while True:
                            await asyncio.sleep(CHECK_SECONDS)
                            async with asyncio.timeout(CHECK_TIMEOUT):
                                await conn.execute(text("SELECT 1"))
                    finally:
                        self.listening.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "not hearing other processes' web chat messages (%s); again in %.1f s",
                    type(exc).__name__,
                    wait,
                )
                await asyncio.sleep(wait)


def is_postgresql(url: str) -> bool:
    return make_url(async_url(url)).get_backend_name() == "postgresql"
