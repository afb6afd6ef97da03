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
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from qn_bot.config import Config
from qn_bot.domain import Address, Attachment, Envelope, InboundKind, InboundMessage, UserRef
from qn_bot.i18n import DEFAULT_LANGUAGE, default_catalog
from qn_bot.offering import offer
from qn_bot.ports import Adapter, AdapterContext, Capabilities, InboundSink, Platform

PLATFORM = "console"
#: Attachments also shown in the terminal, when shorter than READABLE_LINES: what reads as text
#: there (/mes_donnees, a Markdown or CSV export). HTML and pictures are only saved.
READABLE_MEDIA_TYPES = frozenset({"text/plain", "text/markdown", "text/csv", "application/json"})
READABLE_LINES = 200


CAPABILITIES = Capabilities(
    buttons=False,
    max_text_length=1_000_000,
    attachments=True,
    messages_per_second=1e9,
    sender_limits=False,
)


def render(
    envelope: Envelope,
    capabilities: Capabilities = CAPABILITIES,
    save: Callable[[Attachment], Path] | None = None,
) -> str:
    """The message as terminal lines; each attachment as the path ``save`` wrote it to (a chart
    or an HTML synthesis is opened from there, not read as markup in the terminal), followed by
    its text when it reads as text and is short."""
    message = envelope.message
    lines = [message.text] if message.text else []
    lines += [f"[{n.number}] {n.label}" for n in offer(message, capabilities).numbered]
    for attachment in message.attachments:
        where = save(attachment) if save is not None else attachment.filename
        lines.append(f"📎 {where} ({len(attachment.data)} octets / bytes)")
        if attachment.media_type in READABLE_MEDIA_TYPES:
            text = attachment.data.decode("utf-8", errors="replace")
            if text.count("\n") < READABLE_LINES:
                lines.append(text)
    return "\n".join(lines)


class AttachmentFolder:
    """Where the chat's attachments are written: a folder only the user can read (an export
    holds every answer), made at the first attachment — a fresh temporary one unless given."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._ready = False

    def save(self, attachment: Attachment) -> Path:
        folder = self._prepare()
        # The name comes from the bot; still, it is only ever a name inside the folder.
        name = Path(attachment.filename).name or "piece-jointe"
        stem, suffix = Path(name).stem, Path(name).suffix
        path, n = folder / name, 1
        while path.exists():
            n += 1
            path = folder / f"{stem}-{n}{suffix}"
        # O_EXCL: never through a link someone else left in the folder.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(attachment.data)
        return path

    def _prepare(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="qn-bot-chat-"))
        elif not self._ready:
            self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._folder.chmod(0o700)
        self._ready = True
        return self._folder


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
        attachments: Path | None = None,
    ) -> None:
        self.user = UserRef(PLATFORM, user_name)
        self.attachments = AttachmentFolder(attachments)
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
        self._write(render(envelope, self.capabilities, self.attachments.save))

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
