"""Console protocol (DESIGN.md §4): one message per stdin line, the bot's messages on stdout.

Choices print as ``[1] label`` lines; command buttons (Suivant, Exemples) are not printed, the
text already names their commands. Every line is answered before the next one is read, and only
after the transaction that produced the answer committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TextIO

from qn_bot.config import Config
from qn_bot.domain import Address, ButtonKind, Envelope, InboundKind, InboundMessage, UserRef
from qn_bot.ports import Adapter, AdapterContext, Capabilities, InboundSink

PLATFORM = "console"
TEXT_MEDIA_TYPES = ("text/", "application/json")


def render(envelope: Envelope) -> str:
    message = envelope.message
    lines = [message.text] if message.text else []
    choices = [b for b in message.buttons if b.kind is ButtonKind.CHOICE]
    lines += [f"[{index}] {button.label}" for index, button in enumerate(choices, start=1)]
    for attachment in message.attachments:
        lines.append(f"📎 {attachment.filename} ({len(attachment.data)} octets / bytes)")
        if attachment.media_type.startswith(TEXT_MEDIA_TYPES):
            lines.append(attachment.data.decode("utf-8", errors="replace"))
    return "\n".join(lines)


class ConsoleAdapter(Adapter):
    platform = PLATFORM
    capabilities = Capabilities(
        buttons=False,
        max_text_length=1_000_000,
        attachments=True,
        messages_per_second=1e9,
        sender_limits=False,
    )

    def __init__(
        self,
        user_name: str,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        flush: Callable[[], Awaitable[None]] | None = None,
        opening: str | None = None,
    ) -> None:
        self.user = UserRef(PLATFORM, user_name)
        self.address = Address(PLATFORM, user_name)
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.flush = flush
        self.opening = opening  # e.g. "/start construire-2030", sent before the first line
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()

    def _inbound(self, text: str) -> InboundMessage:
        return InboundMessage(
            sender=self.user,
            address=self.address,
            message_id=f"{self.user.user_id}:{uuid.uuid4()}",
            kind=InboundKind.TEXT,
            text=text,
            is_private=True,
        )

    async def run(self, sink: InboundSink) -> None:
        """Read stdin until EOF, handing each line to ``sink`` and waiting for its answers."""
        loop = asyncio.get_running_loop()
        try:
            if self.opening is not None:
                await self._one(sink, self.opening)
            while True:
                line = await loop.run_in_executor(None, self.stdin.readline)
                if line == "":
                    return
                await self._one(sink, line.rstrip("\r\n"))
        finally:
            self.finished.set()

    async def _one(self, sink: InboundSink, text: str) -> None:
        await sink(self._inbound(text))
        if self.flush is not None:
            await self.flush()

    def reachable_chats(self) -> frozenset[str]:
        return frozenset({self.address.chat_id})

    def bind_drain(self, drain: Callable[[], Awaitable[None]]) -> None:
        self.flush = drain

    def ended(self) -> asyncio.Event:
        return self.finished

    async def start(self, sink: InboundSink) -> None:
        self._task = asyncio.create_task(self.run(sink), name="console-adapter")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def send(self, envelope: Envelope) -> None:
        self.stdout.write(render(envelope) + "\n")
        self.stdout.flush()


def ConsoleAdapterFactory(config: Config, context: AdapterContext) -> Adapter | None:
    """`qn-bot run` chats on the console when no platform is configured."""
    del config, context
    # Show the open campaign (or the question one was at) at once, as `qn-bot chat` does.
    return ConsoleAdapter(getpass.getuser(), opening="/start")
