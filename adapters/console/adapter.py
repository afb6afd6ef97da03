"""Console protocol (docs/architecture.md, "Contracts"): one message per stdin line, the
bot's messages on stdout.

Choices print as ``[1] label`` lines, numbered as qn_bot.offering decides for a platform
without buttons; command buttons (Suivant, Exemples) are not printed, the text already names
their commands. Every line is answered before the next one is handled, and
only after the transaction that produced the answer committed; at the end of input every answer
is printed before the chat ends, then a goodbye. Output closed by its reader (``| head -1``) ends
the chat quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import TextIO

from qn_bot.config import Config
from qn_bot.domain import Address, Envelope, InboundKind, InboundMessage, UserRef
from qn_bot.i18n import DEFAULT_LANGUAGE, default_catalog
from qn_bot.offering import offer
from qn_bot.ports import Adapter, AdapterContext, Capabilities, InboundSink, Platform

PLATFORM = "console"
TEXT_MEDIA_TYPES = ("text/", "application/json")


CAPABILITIES = Capabilities(
    buttons=False,
    max_text_length=1_000_000,
    attachments=True,
    messages_per_second=1e9,
    sender_limits=False,
)


def render(envelope: Envelope, capabilities: Capabilities = CAPABILITIES) -> str:
    message = envelope.message
    lines = [message.text] if message.text else []
    lines += [f"[{n.number}] {n.label}" for n in offer(message, capabilities).numbered]
    for attachment in message.attachments:
        lines.append(f"📎 {attachment.filename} ({len(attachment.data)} octets / bytes)")
        if attachment.media_type.startswith(TEXT_MEDIA_TYPES):
            lines.append(attachment.data.decode("utf-8", errors="replace"))
    return "\n".join(lines)


class ConsoleAdapter(Adapter):
    platform = PLATFORM
    capabilities = CAPABILITIES

    def __init__(
        self,
        user_name: str,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        flush: Callable[[], Awaitable[None]] | None = None,
        opening: str | None = None,
        language: str = DEFAULT_LANGUAGE,
    ) -> None:
        self.user = UserRef(PLATFORM, user_name)
        self.address = Address(PLATFORM, user_name)
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.flush = flush
        # Sent for the citizen before the first line, e.g. "/start construire-2030". Without
        # one the chat is only opened: a known citizen sees where they stand, a new one is
        # asked nothing before their first line (which therefore answers nothing).
        self.opening = opening
        # The bot's language: the citizen's own is the core's to know, not the adapter's.
        self.goodbye = default_catalog().t(language, "console_goodbye")
        self._task: asyncio.Task[None] | None = None
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._output_closed = False
        self.finished = asyncio.Event()

    def _inbound(self, text: str, kind: InboundKind = InboundKind.TEXT) -> InboundMessage:
        # No received_at: a line is handled only once the answer to the previous one was shown,
        # so it answers what is on screen.
        return InboundMessage(
            sender=self.user,
            address=self.address,
            message_id=f"{self.user.user_id}:{uuid.uuid4()}",
            kind=kind,
            text=text,
            is_private=True,
        )

    async def run(self, sink: InboundSink) -> None:
        """Hand each stdin line to ``sink`` and wait for its answers, until EOF or until the
        output is closed."""
        loop = asyncio.get_running_loop()
        # A daemon thread: a read blocked on a terminal must not keep the process alive once
        # the chat has ended (the default executor's threads are waited for at exit).
        threading.Thread(target=self._read, args=(loop,), name="console-stdin", daemon=True).start()
        try:
            if self.opening is not None:
                await self._one(sink, self._inbound(self.opening))
            else:
                await self._one(sink, self._inbound("", InboundKind.OPENED))
            while not self._output_closed:
                line = await self._lines.get()
                if line is None:
                    # Ctrl-D can look like a crash or a loss: say that nothing was lost.
                    self._write(self.goodbye)
                    return
                await self._one(sink, self._inbound(line.rstrip("\r\n")))
        finally:
            self.finished.set()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        def hand(line: str | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the chat is over
                loop.call_soon_threadsafe(self._lines.put_nowait, line)

        try:
            for line in iter(self.stdin.readline, ""):
                hand(line)
        except (OSError, ValueError):  # stdin closed under us: as good as EOF
            pass
        hand(None)

    async def _one(self, sink: InboundSink, message: InboundMessage) -> None:
        await sink(message)
        if self.flush is not None:
            await self.flush()  # every answer printed before the next line is handled

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
        self._write(render(envelope, self.capabilities))

    def _write(self, text: str) -> None:
        if self._output_closed:
            return  # nobody reads any more: what is left is dropped, as a closed window would
        try:
            self.stdout.write(text + "\n")
            self.stdout.flush()
        except BrokenPipeError:
            self._close_output()

    def _close_output(self) -> None:
        """The reader closed our output: stop after the line in hand, quietly."""
        self._output_closed = True
        # Python flushes stdout once more at exit and would complain about the broken pipe;
        # from now on stdout leads nowhere.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.stdout.fileno())
            finally:
                os.close(devnull)
        self._lines.put_nowait(None)


def build_adapter(config: Config, context: AdapterContext) -> Adapter | None:
    """`qn-bot run` chats on the console when no platform is configured."""
    del context
    # Opened as `qn-bot chat` without --campaign: the question one was at is shown at once.
    return ConsoleAdapter(getpass.getuser(), language=config.language)


#: The entry point (pyproject.toml, group qn_bot.adapters): how to build the adapter, and what
#: it can do.
ConsoleAdapterFactory = Platform(build_adapter, capabilities=CAPABILITIES)
