"""The web chat as a platform: citizens ``web:TOKEN`` talk to the bot on ``GET /c/SLUG``.

The bot's messages come through the outbox like on any platform, and are kept in the citizen's
transcript (adapters/web/transcript.py), which the page shows and its event stream delivers.
Keeping them is writing to our own database: the outbox does it itself, with its bookkeeping,
many citizens in one transaction (capabilities ``transcript``, :meth:`transcript_body`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from qn_bot.config import Config
from qn_bot.domain import DeviceLink, Envelope, OutboundMessage, UserRef
from qn_bot.errors import PermanentDeliveryError
from qn_bot.ports import Adapter, AdapterContext, Capabilities, InboundSink, Platform

from .security import CITIZEN_ID_RE
from .server import JOIN_LINK_RE, WebServer
from .transcript import PLATFORM, bot_entry

CAPABILITIES = Capabilities(
    buttons=True,
    max_text_length=8000,
    attachments=True,
    # Writing to our own database, not to a remote service: no pace of the platform's to keep.
    messages_per_second=10_000.0,
    transcript=True,
)


class WebAdapter(Adapter):
    platform = PLATFORM
    capabilities = CAPABILITIES

    def __init__(self, server: WebServer) -> None:
        self.server = server

    @property
    def port(self) -> int | None:
        return self.server.port

    async def start(self, sink: InboundSink) -> None:
        await self.server.start(sink)

    def bind_drain(self, drain: Callable[[], Awaitable[None]]) -> None:
        self.server.drain = drain

    async def stop(self) -> None:
        await self.server.stop()

    def transcript_body(self, chat_id: str, message: OutboundMessage) -> dict[str, Any]:
        if not CITIZEN_ID_RE.fullmatch(chat_id):
            raise PermanentDeliveryError("not a web citizen's address")
        return bot_entry(message, link_in=JOIN_LINK_RE).body()

    async def send(self, envelope: Envelope) -> None:
        """What the outbox keeps itself (transcript_body); for a worker that does not."""
        user_id = envelope.address.chat_id
        if not CITIZEN_ID_RE.fullmatch(user_id):
            raise PermanentDeliveryError("not a web citizen's address")
        await self.server.transcripts.append_bot(
            user_id, envelope.message, key=f"o:{envelope.outbox_id}", link_in=JOIN_LINK_RE
        )

    async def device_link(self, user: UserRef, message_id: str) -> DeviceLink | None:
        del message_id
        return await self.server.device_link(user.user_id)


def build(config: Config, context: AdapterContext) -> Adapter | None:
    if config.web.port is None:
        return None
    server = WebServer(
        config.web,
        context,
        default_language=config.language,
        window_seconds=config.limits.window_seconds,
    )
    return WebAdapter(server)


#: The entry point (pyproject.toml, group qn_bot.adapters).
WebAdapterFactory = Platform(build, capabilities=CAPABILITIES)
