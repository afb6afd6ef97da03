"""What a web citizen's page shows: every message of their conversation, both ways, kept in the
database (the adapter's key-value state) so that a reload, a restart or another device shows it
again.

One record per citizen, ``t:TOKEN``, about ``web:TOKEN``: /oublier erases it with them and the
retention purge takes it once untouched for ``[retention] adapter_state_days``. Entry ids rise
with the clock (milliseconds) rather than counting from 1: after an erasure the next message
still has a larger id than any a page saw, so a page that reconnects asking "after N" gets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from qn_bot.clock import Clock
from qn_bot.domain import Attachment, OutboundMessage, UserRef
from qn_bot.ports import KeyValue

PLATFORM = "web"
BOT = "bot"
CITIZEN = "citizen"
#: Client ids remembered per citizen to drop a post sent twice (a retry after a network cut).
CLIENT_IDS_KEPT = 200


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    role: str  # BOT or CITIZEN
    text: str
    buttons: tuple[tuple[str, str, str], ...] = ()  # (kind, value, label)
    files: tuple[Attachment, ...] = ()
    link: str | None = None  # a URL to show as a link after the text (/lien)
    client_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "role": self.role, "text": self.text}
        if self.buttons:
            out["buttons"] = [list(b) for b in self.buttons]
        if self.files:
            out["files"] = [
                {"filename": a.filename, "media_type": a.media_type, "data": a.data.hex()}
                for a in self.files
            ]
        if self.link is not None:
            out["link"] = self.link
        if self.client_id is not None:
            out["client_id"] = self.client_id
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(
            id=int(data["id"]),
            role=str(data["role"]),
            text=str(data["text"]),
            buttons=tuple((str(k), str(v), str(lbl)) for k, v, lbl in data.get("buttons", ())),
            files=tuple(
                Attachment(str(f["filename"]), str(f["media_type"]), bytes.fromhex(f["data"]))
                for f in data.get("files", ())
            ),
            link=data.get("link"),
            client_id=data.get("client_id"),
        )


@dataclass(slots=True)
class _Watch:
    """Pages listening to one citizen (Server-Sent Events), and the lock on their record."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    users: int = 0


class Transcripts:
    """Read and append a citizen's conversation; wake the pages that wait for more."""

    def __init__(self, kv: KeyValue, clock: Clock) -> None:
        self.kv = kv
        self.clock = clock
        self._watches: dict[str, _Watch] = {}

    @asynccontextmanager
    async def _watch(self, token: str) -> AsyncIterator[_Watch]:
        watch = self._watches.get(token)
        if watch is None:
            watch = self._watches[token] = _Watch()
        watch.users += 1
        try:
            yield watch
        finally:
            watch.users -= 1
            if watch.users == 0:
                del self._watches[token]

    async def entries(self, token: str, after: int = 0) -> list[Entry]:
        record = await self.kv.get(_key(token))
        if not isinstance(record, dict):
            return []
        return [e for e in map(Entry.from_json, record.get("entries", ())) if e.id > after]

    async def append_bot(self, token: str, message: OutboundMessage) -> Entry:
        entry = await self._append(
            token,
            role=BOT,
            text=message.text,
            buttons=tuple((b.kind.value, b.value, b.label) for b in message.buttons),
            files=message.attachments,
        )
        assert entry is not None  # only a citizen's post can be a repeat
        return entry

    async def append_link(self, token: str, text: str, link: str) -> None:
        await self._append(token, role=BOT, text=text, link=link)

    async def append_citizen(self, token: str, text: str, client_id: str) -> Entry | None:
        """The citizen's message as shown; None when this ``client_id`` was already taken."""
        return await self._append(token, role=CITIZEN, text=text, client_id=client_id)

    async def _append(
        self,
        token: str,
        *,
        role: str,
        text: str,
        buttons: tuple[tuple[str, str, str], ...] = (),
        files: tuple[Attachment, ...] = (),
        link: str | None = None,
        client_id: str | None = None,
    ) -> Entry | None:
        async with self._watch(token) as watch, watch.lock:
            # Read afresh, never from memory: an erasure (/oublier) happens in the core's own
            # transaction, and what this process remembered must not bring it back.
            record = await self.kv.get(_key(token))
            if not isinstance(record, dict):
                record = {"entries": [], "clients": []}
            if client_id is not None and client_id in record["clients"]:
                return None
            last = record["entries"][-1]["id"] if record["entries"] else 0
            now_ms = int(self.clock().timestamp() * 1000)
            entry = Entry(max(last + 1, now_ms), role, text, buttons, files, link, client_id)
            record["entries"].append(entry.to_json())
            if client_id is not None:
                record["clients"] = [*record["clients"][-(CLIENT_IDS_KEPT - 1) :], client_id]
            await self.kv.set(_key(token), record, about=UserRef(PLATFORM, token))
            watch.changed.set()
            watch.changed = asyncio.Event()
            return entry

    async def wait(self, token: str, after: int, within: float) -> list[Entry]:
        """Entries after ``after``, waiting up to ``within`` seconds for one to come."""
        async with self._watch(token) as watch:
            changed = watch.changed
            entries = await self.entries(token, after)
            if entries:
                return entries
            try:
                await asyncio.wait_for(changed.wait(), within)
            except TimeoutError:
                return []
            return await self.entries(token, after)


def _key(token: str) -> str:
    return f"t:{token}"
