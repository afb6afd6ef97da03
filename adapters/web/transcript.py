"""What a web citizen's page shows: every message of their conversation, both ways, kept in the
database (the core's transcripts port, one row per message) so that a reload, a restart or
another device shows it again; and the pages listening for more.

The citizen's messages are written through the port's group commit, the bot's by the outbox
itself (the platform's capabilities say ``transcript``): many citizens' messages in one
transaction either way. A page's event stream reads the database once, when it opens
(everything after the id it last saw), then takes each new entry from memory as this process
keeps it: nothing is read again per message. Only what another process kept (several
`qn-bot run` on one PostgreSQL) is read, told by the port's watch. Entry ids come from the
database and are never reused, even after /oublier erased the rows, so a page that reconnects
asking "after N" gets what came after, no more, no less.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from qn_bot.domain import Attachment, OutboundMessage, UserRef
from qn_bot.ports import BOT_ROLE, TranscriptNews, TranscriptRow, Transcripts

PLATFORM = "web"
BOT = BOT_ROLE
CITIZEN = "citizen"
#: The newest messages searched for the label of a pressed button.
LABEL_LOOKBACK = 20


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    role: str  # BOT or CITIZEN
    text: str
    buttons: tuple[tuple[str, str, str], ...] = ()  # (kind, value, label)
    files: tuple[Attachment, ...] = ()
    link: str | None = None  # a URL to show as a link after the text (/lien)
    client_id: str | None = None  # the citizen's post's id, shown to the page

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.buttons:
            out["buttons"] = [list(b) for b in self.buttons]
        if self.files:
            out["files"] = [
                {"filename": a.filename, "media_type": a.media_type, "data": a.data.hex()}
                for a in self.files
            ]
        if self.link is not None:
            out["link"] = self.link
        return out

    @classmethod
    def from_row(cls, row: TranscriptRow) -> Entry:
        data = row.body
        return cls(
            id=row.id,
            role=row.role,
            text=str(data["text"]),
            buttons=tuple((str(k), str(v), str(lbl)) for k, v, lbl in data.get("buttons", ())),
            files=tuple(
                Attachment(str(f["filename"]), str(f["media_type"]), bytes.fromhex(f["data"]))
                for f in data.get("files", ())
            ),
            link=data.get("link"),
            client_id=row.key if row.role == CITIZEN else None,
        )


def bot_entry(message: OutboundMessage, *, link_in: re.Pattern[str] | None = None) -> Entry:
    """The bot's ``message`` as the page shows it (id 0: not kept yet). ``link_in``: a last
    line of the text that is such a URL is shown as a link."""
    text, link = message.text, None
    head, _, last = text.rpartition("\n")
    if link_in is not None and head and link_in.fullmatch(last.strip()):
        text, link = head, last.strip()
    return Entry(
        0,
        BOT,
        text,
        buttons=tuple((b.kind.value, b.value, b.label) for b in message.buttons),
        files=message.attachments,
        link=link,
    )


@dataclass(slots=True, eq=False)  # by identity: a set holds them
class _Listener:
    """One page waiting for a citizen's next messages."""

    arrived: list[Entry] = field(default_factory=list)
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False  # a page's stream, closed for a newer one (the cap)
    seen: int = 0  # the newest id the page has
    # Another process kept rows up to this id: they are read from the database.
    missed: int = 0

    def take(self, after: int) -> list[Entry]:
        fresh = sorted((e for e in self.arrived if e.id > after), key=lambda e: e.id)
        self.arrived.clear()
        self.woken.clear()
        return fresh


class WebTranscripts:
    """Read and append a citizen's conversation; hand new entries to the pages that wait."""

    def __init__(self, rows: Transcripts) -> None:
        self.rows = rows
        self._listeners: dict[str, set[_Listener]] = {}
        self._streams: dict[str, list[_Listener]] = {}  # pages' streams, oldest first
        self._watching = False

    def start(self) -> None:
        """Hear of the rows kept from now on (in the event loop: the port may start listening
        to the database)."""
        if not self._watching:
            self._watching = True
            self.rows.watch(self._news)

    def _news(self, news: Sequence[TranscriptNews]) -> None:
        for item in news:
            if item.about is None:  # another process's news may have been lost: read
                for listeners in self._listeners.values():
                    for listener in listeners:
                        listener.missed = max(listener.missed, listener.seen + 1)
                        listener.woken.set()
                continue
            if item.about.platform != PLATFORM:
                continue
            for listener in self._listeners.get(item.about.user_id, ()):
                if item.rows:
                    listener.arrived.extend(Entry.from_row(row) for row in item.rows)
                elif item.last_id > listener.seen:
                    listener.missed = max(listener.missed, item.last_id)
                else:
                    continue  # already had it (this process's own rows, told again)
                listener.woken.set()

    @contextmanager
    def _listen(self, user_id: str) -> Iterator[_Listener]:
        listener = _Listener()
        self._listeners.setdefault(user_id, set()).add(listener)
        try:
            yield listener
        finally:
            mine = self._listeners.get(user_id)
            if mine is not None:
                mine.discard(listener)
                if not mine:
                    del self._listeners[user_id]

    @contextmanager
    def _stream(self, user_id: str, listener: _Listener, cap: int) -> Iterator[None]:
        streams = self._streams.setdefault(user_id, [])
        streams.append(listener)
        while cap and len(streams) > cap:
            oldest = streams.pop(0)
            oldest.closed = True
            oldest.woken.set()
        try:
            yield
        finally:
            if listener in streams:
                streams.remove(listener)
            if not streams and self._streams.get(user_id) is streams:
                del self._streams[user_id]

    async def entries(self, user_id: str, after: int = 0) -> list[Entry]:
        return [Entry.from_row(r) for r in await self.rows.after(_about(user_id), after)]

    async def latest(self, user_id: str, limit: int = LABEL_LOOKBACK) -> list[Entry]:
        """The newest ``limit`` entries, newest first."""
        return [Entry.from_row(r) for r in await self.rows.latest(_about(user_id), limit)]

    async def append_bot(
        self,
        user_id: str,
        message: OutboundMessage,
        *,
        key: str | None = None,
        link_in: re.Pattern[str] | None = None,
    ) -> Entry | None:
        """``key``: the message's own (kept once); None when it was already kept."""
        entry = bot_entry(message, link_in=link_in)
        return await self._append(user_id, entry, key=key or f"b:{uuid.uuid4().hex}")

    async def _append(self, user_id: str, entry: Entry, *, key: str) -> Entry | None:
        # The pages hear of it through the port's watch, like of the rows the outbox keeps.
        row = await self.rows.append(_about(user_id), entry.role, entry.body(), key)
        return None if row is None else Entry.from_row(row)

    async def _caught_up(self, user_id: str, listener: _Listener, after: int) -> list[Entry]:
        """What woke ``listener``, after ``after``: from memory, and from the database when
        another process kept some."""
        fresh = listener.take(after)
        if listener.missed > after:
            listener.missed = 0
            read = await self.entries(user_id, after)
            known = {e.id for e in read}
            fresh = sorted([*read, *(e for e in fresh if e.id not in known)], key=lambda e: e.id)
        return fresh

    async def answered(self, user_id: str, handled: Awaitable[None], within: float) -> None:
        """Await ``handled`` (the citizen's message handled), then up to ``within`` seconds
        for the bot's next message to be kept."""
        loop = asyncio.get_running_loop()
        with self._listen(user_id) as listener:  # before: a reply kept meanwhile is heard
            await handled
            deadline = loop.time() + within
            while all(e.role != BOT for e in listener.arrived):
                if listener.missed:  # kept by another process: is the newest the bot's?
                    listener.missed = 0
                    newest = await self.latest(user_id, 1)
                    if newest and newest[0].role == BOT:
                        return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                listener.woken.clear()
                try:
                    await asyncio.wait_for(listener.woken.wait(), remaining)
                except TimeoutError:
                    return

    async def follow(
        self, user_id: str, after: int, idle: float, *, cap: int = 0
    ) -> AsyncIterator[list[Entry] | None]:
        """What comes after ``after``, batch by batch: first what the database holds, then
        each new entry as it is written; an empty batch after ``idle`` seconds of nothing.
        With ``cap``, a citizen's streams beyond it close, the oldest first: a None, then
        the end. The oldest, not the newest: a page reloaded opens its stream before its
        server notices the old one is gone, and must not be refused."""
        with self._listen(user_id) as listener, self._stream(user_id, listener, cap):
            # Listening before reading: what is written during the read is not missed, and
            # what is in both is dropped by its id.
            backlog = await self.entries(user_id, after)
            if backlog:
                after = listener.seen = backlog[-1].id
                yield backlog
            listener.seen = after
            while True:
                try:
                    await asyncio.wait_for(listener.woken.wait(), idle)
                except TimeoutError:
                    yield []
                    continue
                if listener.closed:
                    yield None
                    return
                fresh = await self._caught_up(user_id, listener, after)
                if fresh:
                    after = listener.seen = fresh[-1].id
                    yield fresh


def _about(user_id: str) -> UserRef:
    return UserRef(PLATFORM, user_id)
