"""A citizen played by a matrix-nio client (optionally with end-to-end encryption)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    ReactionEvent,
    RoomCreateResponse,
    RoomEncryptedFile,
    RoomEncryptedImage,
    RoomMessageFile,
    RoomMessageImage,
    RoomMessageNotice,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
)

ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


@dataclass
class Received:
    room_id: str
    event_id: str
    sender: str
    msgtype: str
    body: str
    formatted_body: str | None
    encrypted: bool
    at: float = field(default_factory=time.monotonic)
    content: dict[str, Any] = field(default_factory=dict)  # the event's content, decrypted


class Citizen:
    def __init__(self, homeserver: str, user_id: str, password: str, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.user_id = user_id
        self.password = password
        self.client = AsyncClient(
            homeserver,
            user_id,
            store_path=str(store),
            config=AsyncClientConfig(
                encryption_enabled=True,
                store_sync_tokens=True,
                max_timeout_retry_wait_time=2,  # back quickly after the outage test
            ),
        )
        self.received: list[Received] = []
        self.reactions: list[tuple[str, str, str]] = []  # (sender, reacts_to, key)
        self._cursor: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def login(self) -> None:
        resp = await self.client.login(self.password, device_name="citizen")
        assert isinstance(resp, LoginResponse), resp
        self.client.add_event_callback(
            self._on_message,
            (
                RoomMessageNotice,
                RoomMessageText,
                RoomMessageFile,
                RoomMessageImage,
                RoomEncryptedFile,
                RoomEncryptedImage,
            ),
        )
        self.client.add_event_callback(self._on_reaction, ReactionEvent)
        await self.client.sync(timeout=0)
        await self.client.keys_upload()
        self._task = asyncio.create_task(self.client.sync_forever(timeout=1000))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    async def _on_reaction(self, room: Any, event: Any) -> None:
        self.reactions.append((event.sender, event.reacts_to, event.key))

    async def _on_message(self, room: Any, event: Any) -> None:
        if event.sender == self.user_id:
            return
        content = event.source.get("content", {})
        self.received.append(
            Received(
                room.room_id,
                event.event_id,
                event.sender,
                str(content.get("msgtype")),
                str(content.get("body", "")),
                content.get("formatted_body"),
                bool(getattr(event, "decrypted", False)),
                content=dict(content),
            )
        )
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Any, within: float = 20) -> None:
        async def check() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        async def poke() -> None:  # state changes (joins) do not notify: re-check regularly
            while True:
                await asyncio.sleep(0.1)
                async with self._changed:
                    self._changed.notify_all()

        poker = asyncio.create_task(poke())
        try:
            await asyncio.wait_for(check(), within)
        finally:
            poker.cancel()

    async def open_dm(
        self, bot_id: str, *, encrypted: bool, within: float = 20, wait: bool = True
    ) -> str:
        resp = await self.client.room_create(
            is_direct=True,
            invite=[bot_id],
            preset=RoomPreset.trusted_private_chat,
            initial_state=[ENCRYPTION_STATE] if encrypted else [],
        )
        assert isinstance(resp, RoomCreateResponse), resp
        room_id = str(resp.room_id)
        if wait:
            await self.wait_joined(room_id, bot_id, within)
        return room_id

    def joined(self, room_id: str, user_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return room is not None and user_id in room.users and not room.users[user_id].invited

    async def wait_joined(self, room_id: str, user_id: str, within: float = 20) -> None:
        await self.wait_for(lambda: self.joined(room_id, user_id), within)
        if self.client.should_query_keys:
            await self.client.keys_query()

    async def send(self, room_id: str, text: str, **extra: Any) -> str:
        content = {"msgtype": "m.text", "body": text, **extra}
        return await self.send_content(room_id, "m.room.message", content)

    async def send_content(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        resp = await self.client.room_send(
            room_id, event_type, content, ignore_unverified_devices=True
        )
        assert isinstance(resp, RoomSendResponse), resp
        return str(resp.event_id)

    def messages(self, room_id: str) -> list[Received]:
        return [m for m in self.received if m.room_id == room_id]

    async def expect(self, room_id: str, needle: str, within: float = 20) -> Received:
        """The next bot message in ``room_id`` containing ``needle`` (earlier ones are skipped)."""
        found: list[Received] = []

        def match() -> bool:
            msgs = self.messages(room_id)
            for index in range(self._cursor.get(room_id, 0), len(msgs)):
                if needle in msgs[index].body:
                    self._cursor[room_id] = index + 1
                    found.append(msgs[index])
                    return True
            return False

        try:
            await self.wait_for(match, within)
        except TimeoutError:
            seen = [m.body[:80] for m in self.messages(room_id)[self._cursor.get(room_id, 0) :]]
            raise AssertionError(
                f"{self.user_id}: no {needle!r} within {within}s; got {seen}"
            ) from None
        return found[0]

    async def say(self, room_id: str, text: str, needle: str, within: float = 20) -> Received:
        await self.send(room_id, text)
        return await self.expect(room_id, needle, within)
