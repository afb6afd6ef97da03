"""The citizens' side of Telegram tests: the emulator process and clients that play citizens.

`Emulator` runs tests/servers/telegram/launcher.js (telegram-test-api with its shims) on a free
loopback port. `BotHub` talks to it for one bot token: it sends updates the way Telegram clients
would and collects every message the bot sends, all chats at once (one request per poll), with
the time each arrived. `Citizen` is one private (or group) chat seen from the person's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import os
import re
import socket
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[3]
LAUNCHER = ROOT / "tests" / "servers" / "telegram" / "launcher.js"
STARTUP_TIMEOUT = 20.0
TAG = re.compile(r"<[^>]+>")

_user_ids = itertools.count(1_000_001)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_token() -> str:
    return f"{int(time.time())}:TEST{uuid.uuid4().hex}"


class Emulator:
    """`node launcher.js PORT`; fails loudly when node or the npm package is missing."""

    def __init__(self, *, delay_ms: int = 0, port: int | None = None) -> None:
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, TELEGRAM_EMULATOR_DELAY_MS=str(delay_ms))
        self.proc = subprocess.Popen(
            ["node", str(LAUNCHER), str(self.port)],
            cwd=LAUNCHER.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(b"listening on") or self.proc.poll() is not None:
                break
        if not line.startswith(b"listening on"):
            self.stop()
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise RuntimeError(f"telegram emulator did not start (run `make test-servers`): {err}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def visible(text: str | None) -> str:
    """What a person reads of a message sent in HTML parse mode."""
    return html.unescape(TAG.sub("", text or ""))


@dataclass
class BotMessage:
    chat_id: int
    message_id: int
    text: str  # as sent (HTML)
    reply_markup: dict[str, Any] | None
    document: dict[str, Any] | None
    photo: list[dict[str, Any]] | None
    arrived: float  # time.monotonic() when collected

    @property
    def plain(self) -> str:
        return visible(self.text)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    @property
    def labels(self) -> list[str]:
        return [str(b["text"]) for b in self.buttons]

    @classmethod
    def from_json(cls, data: dict[str, Any], arrived: float) -> BotMessage:
        return cls(
            chat_id=int(data["chat_id"]),
            message_id=int(data["message_id"]),
            text=data.get("text") or data.get("caption") or "",
            reply_markup=data.get("reply_markup"),
            document=data.get("document"),
            photo=data.get("photo"),
            arrived=arrived,
        )


class BotHub:
    """Everything one bot token sends, by chat; and the way to send it updates."""

    def __init__(self, url: str, token: str, *, poll: float = 0.01) -> None:
        self.url = url
        self.token = token
        self.poll = poll
        # aiohttp rather than httpx: with 100 citizens posting at once, httpx's pool spent more
        # CPU than the bot under test (see adapters/telegram/http.py).
        self.client: aiohttp.ClientSession | None = None
        self.messages: dict[int, list[BotMessage]] = defaultdict(list)
        # Waiters are woken per chat: one condition for all made every collect wake every
        # citizen of a 100-citizen benchmark.
        self._changed: dict[int | None, asyncio.Condition] = defaultdict(asyncio.Condition)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BotHub:
        self.client = aiohttp.ClientSession(
            base_url=self.url,
            timeout=aiohttp.ClientTimeout(total=30),
            connector=aiohttp.TCPConnector(limit=0),
        )
        self._task = asyncio.create_task(self._collect_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            await self.client.close()

    async def call(self, route: str, **body: Any) -> Any:
        assert self.client is not None, "use BotHub with async with"
        async with self.client.post(route, json={"token": self.token, **body}) as response:
            data = await response.json()
        assert data.get("ok"), data
        return data["result"]

    async def update(self, update: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("/_qn/update", update=update)
        return result

    async def updates(self, updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several updates the bot then gets in one getUpdates."""
        result: list[dict[str, Any]] = await self.call("/_qn/updates", updates=updates)
        return result

    async def collect(self) -> int:
        found = await self.call("/_qn/bot_messages")
        if found:
            now = time.monotonic()
            chats: set[int | None] = {None}
            for data in found:
                message = BotMessage.from_json(data, now)
                self.messages[message.chat_id].append(message)
                chats.add(message.chat_id)
            for chat in chats:
                if chat in self._changed:
                    async with self._changed[chat]:
                        self._changed[chat].notify_all()
        return len(found)

    async def _collect_forever(self) -> None:
        while True:
            if not await self.collect():
                await asyncio.sleep(self.poll)

    async def wait(
        self, predicate: Callable[[], bool], within: float = 10.0, *, chat_id: int | None = None
    ) -> None:
        """Until ``predicate`` holds; with ``chat_id``, it is looked at again only when that
        chat gets a message."""
        changed = self._changed[chat_id]
        async with changed:
            await asyncio.wait_for(changed.wait_for(predicate), within)

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("/_qn/state")
        return result

    async def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "/_qn/message", chat_id=chat_id, message_id=message_id
        )
        return result

    async def flood(self, count: int, retry_after: float = 1) -> None:
        await self.call("/_qn/flood", count=count, retry_after=retry_after)

    async def block(self, chat_id: int, blocked: bool = True) -> None:
        await self.call("/_qn/block", chat_id=chat_id, blocked=blocked)

    async def delay(self, ms: int) -> None:
        await self.call("/_qn/delay", ms=ms)

    def citizen(self, *, language: str = "fr", group: int | None = None) -> Citizen:
        user_id = next(_user_ids)
        return Citizen(self, user_id, group if group is not None else user_id, language)


@dataclass
class Citizen:
    """A Telegram user in one chat (their private chat with the bot, or a group)."""

    hub: BotHub
    user_id: int
    chat_id: int
    language: str = "fr"
    seen: int = 0  # how many of the chat's messages have been looked at
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def user(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": "Camille",
            "last_name": "Dupont",
            "language_code": self.language,
        }

    @property
    def chat(self) -> dict[str, Any]:
        if self.chat_id < 0:
            return {"id": self.chat_id, "type": "supergroup", "title": "Atelier 2030"}
        return {"id": self.chat_id, "type": "private", "first_name": "Camille"}

    @property
    def history(self) -> list[BotMessage]:
        return self.hub.messages[self.chat_id]

    def new(self) -> list[BotMessage]:
        return self.history[self.seen :]

    async def message(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Send a message with these fields (text, photo, sticker…)."""
        result = await self.hub.update(
            {"message": {"from": self.user, "chat": self.chat, **fields}}
        )
        self.sent.append(result)
        return result

    async def say(self, text: str) -> dict[str, Any]:
        return await self.message(self._text(text))

    async def burst(self, *texts: str) -> list[dict[str, Any]]:
        """Messages sent quickly one after another: the bot reads them in one poll."""
        results = await self.hub.updates(
            [{"message": {"from": self.user, "chat": self.chat, **self._text(t)}} for t in texts]
        )
        self.sent.extend(results)
        return results

    @staticmethod
    def _text(text: str) -> dict[str, Any]:
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            fields["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
        return fields

    def last_keyboard(self) -> BotMessage:
        for message in reversed(self.history):
            if message.buttons:
                return message
        raise AssertionError(f"no keyboard in chat {self.chat_id}: {self.transcript()}")

    async def press(self, label: str, on: BotMessage | None = None) -> dict[str, Any]:
        """Press the button whose label contains ``label`` on the last message with a keyboard."""
        message = on if on is not None else self.last_keyboard()
        matches = [b for b in message.buttons if label in b["text"]]
        assert matches, f"no button {label!r} in {message.labels}"
        return await self.press_data(message, str(matches[0]["callback_data"]))

    async def press_data(self, message: BotMessage, data: str) -> dict[str, Any]:
        query = {
            "from": self.user,
            "data": data,
            "message": {
                "message_id": message.message_id,
                "date": int(time.time()),
                "chat": self.chat,
                "from": {"id": 666, "is_bot": True, "first_name": "QN Test Bot"},
                "text": message.plain,
            },
        }
        result = await self.hub.update({"callback_query": query})
        result["pressed_on"] = message.message_id
        self.sent.append(result)
        return result

    async def expect(self, *needles: str, within: float = 10.0) -> list[BotMessage]:
        """Wait until the new messages contain every needle (in the text a person reads, or a
        button label);
        returns the new messages up to the one holding the last needle, and moves past them."""

        def found() -> int | None:
            joined = ""
            for index, message in enumerate(self.new()):
                joined += message.plain + "\n" + "\n".join(message.labels) + "\n"
                if all(n in joined for n in needles):
                    return index
            return None

        try:
            await self.hub.wait(lambda: found() is not None, within, chat_id=self.chat_id)
        except TimeoutError:
            raise AssertionError(
                f"chat {self.chat_id}: {needles!r} not received; new: {self.transcript(True)}"
            ) from None
        index = found()
        assert index is not None
        got = self.new()[: index + 1]
        self.seen += index + 1
        return got

    async def send(self, text: str, *needles: str, within: float = 10.0) -> list[BotMessage]:
        await self.say(text)
        return await self.expect(*needles, within=within)

    async def settle(self, quiet: float = 0.5) -> list[BotMessage]:
        """Everything new once nothing more has come for ``quiet`` seconds."""
        count = -1
        while count != len(self.history):
            count = len(self.history)
            await asyncio.sleep(quiet)
        got = self.new()
        self.seen = len(self.history)
        return got

    def transcript(self, only_new: bool = False) -> str:
        messages = self.new() if only_new else self.history
        return "\n---\n".join(f"{m.plain} {m.labels or ''}" for m in messages)
