"""The adapter port: what a platform must provide to qn-bot, and nothing more.

Adapters live in ``qn_bot.adapters.*`` (the repository's ``adapters/`` folder) or in third-party
packages, found through the ``qn_bot.adapters`` entry-point group. A third-party package names a
:class:`Platform` there: how to build its adapter and the pydantic model of its config section,
which `qn-bot run` validates as strictly as its own (docs/architecture.md, "Add a platform").
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from qn_bot.clock import Clock
from qn_bot.domain import (
    Address,
    DeviceLink,
    Envelope,
    InboundMessage,
    OutboundMessage,
    UserRef,
)
from qn_bot.leadership import Granted, Leadership

log = logging.getLogger(__name__)

#: The entry-point group where platforms are found; an entry point's name is its platform.
ADAPTER_GROUP = "qn_bot.adapters"

if TYPE_CHECKING:
    from qn_bot.config import Config

#: Where adapters deliver what citizens send; returns once the message is committed.
InboundSink = Callable[[InboundMessage], Awaitable[None]]


class KeyValue(Protocol):
    """Durable adapter state (sync tokens, device ids, update offsets), kept in our database.

    A value about one person names them in ``about`` (their account, or their private chat):
    /oublier erases it with them, and the retention purge once it is old
    (``[retention] adapter_state_days``)."""

    async def get(self, key: str) -> Any: ...

    async def set(
        self, key: str, value: Any, *, about: UserRef | Address | None = None
    ) -> None: ...

    async def delete(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class TranscriptRow:
    """One message of a kept conversation: ``id`` rises with every row written, never reused
    (a page that saw N asks for what comes after N); ``key`` is unique per person (the post's
    client id, so a post sent twice is kept once)."""

    id: int
    role: str
    body: dict[str, Any]
    key: str


#: The role of the transcript rows that keep the bot's own messages.
BOT_ROLE = "bot"


@dataclass(frozen=True, slots=True)
class TranscriptNews:
    """Rows kept about one person, told after their commit. ``rows`` are the rows themselves
    when this process wrote them; empty when another process did (several `qn-bot run` on one
    PostgreSQL): read what comes after the last id you saw, up to ``last_id``. ``about`` None:
    news of other processes may have been missed (their connection came back), everyone reads
    what they have not seen."""

    about: UserRef | None
    last_id: int
    rows: tuple[TranscriptRow, ...] = ()


#: Told of rows kept (see :meth:`Transcripts.watch`); runs in the event loop, must not block.
TranscriptWatcher = Callable[[Sequence[TranscriptNews]], None]


class Transcripts(Protocol):
    """The conversation kept for a platform that shows it itself (the web chat's page), one row
    per message, about one person: /oublier erases it with them, the retention purge once their
    newest row is older than ``[retention] adapter_state_days``.

    A platform whose capabilities say ``transcript`` has its outgoing messages kept here by
    the outbox itself (:meth:`Adapter.transcript_body`); what the person sends, the adapter
    keeps with :meth:`append`."""

    async def append(
        self, about: UserRef, role: str, body: dict[str, Any], key: str
    ) -> TranscriptRow | None:
        """Keep one message; returns once committed. None when ``key`` is already kept."""
        ...

    async def after(self, about: UserRef, after: int = 0) -> list[TranscriptRow]:
        """Their rows after id ``after``, oldest first."""
        ...

    async def latest(self, about: UserRef, limit: int) -> list[TranscriptRow]:
        """Their newest ``limit`` rows, newest first."""
        ...

    def watch(self, watcher: TranscriptWatcher) -> None:
        """Tell ``watcher`` of every row kept from now on, by this process or another one on
        the same database, once committed."""
        ...


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What the core lends an adapter: durable state, the clock, and exclusive roles among the
    processes sharing the database (one poller per bot token, one sync per account). Nothing
    else leaks in."""

    kv: KeyValue
    clock: Clock
    leadership: Leadership = field(default_factory=Granted)
    transcripts: Transcripts | None = None  # for a platform whose page shows the conversation


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can do, declared by its adapter and read by the core."""

    buttons: bool = False  # can render choices as buttons (else numbered options in text)
    # The longest text one message may hold; a longer one is cut by qn_bot.textsplit.
    max_text_length: int = 4096
    attachments: bool = False
    messages_per_second: float = 30.0  # global pace of the outbox for this platform
    # The adapter paces its sends itself (per chat, per bot, flood replies): the outbox does
    # not add its own limiter, one layer is enough (Telegram: adapters/telegram/pacing.py).
    paces_itself: bool = False
    # Per-citizen flood limits ([limits]) apply to its senders. Not to a local terminal: one
    # trusted person at the keyboard, whose scripted input may come as fast as a pipe allows.
    sender_limits: bool = True
    # Its messages are rows of the conversation kept in our own database (Transcripts): the
    # outbox delivers them by writing those rows (Adapter.transcript_body) together with its
    # own bookkeeping, many chats in one transaction, instead of calling send(). Sending
    # there is a database write: a claim, a send and an acknowledgement per message were
    # three transactions where one does.
    transcript: bool = False


class Adapter(abc.ABC):
    """One platform connection. Lifecycle: ``start(sink)`` … ``stop()``."""

    platform: str
    capabilities: Capabilities = Capabilities()
    #: False for a platform that only sends (e-mail): it is no conversation to fall back from.
    receives: bool = True

    @abc.abstractmethod
    async def start(self, sink: InboundSink) -> None:
        """Connect and begin delivering inbound messages to ``sink``; returns once running."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop receiving, finish or cancel every background task, close connections."""

    async def stop_receiving(self) -> None:  # noqa: B027 - optional hook
        """Take no more inbound messages; let those in hand finish (the core commits each)
        and leave the rest for the platform to deliver again. Sending still works until
        :meth:`stop`, so the outbox can finish what it claimed (a graceful stop, SIGTERM).
        Idempotent; ``stop()`` does it too."""

    @abc.abstractmethod
    async def send(self, envelope: Envelope) -> None:
        """Deliver one message, or raise a :class:`qn_bot.errors.DeliveryError` subclass."""

    def transcript_body(self, chat_id: str, message: OutboundMessage) -> dict[str, Any]:
        """A platform with ``capabilities.transcript``: the transcript row's body that keeps
        ``message`` in the private chat ``chat_id`` (pure: no I/O, called inside the outbox's
        transaction); raise :class:`qn_bot.errors.PermanentDeliveryError` for a chat that
        cannot be one of this platform's."""
        raise NotImplementedError(f"{self.platform} keeps no transcript")

    async def open_private_chat(
        self, user: UserRef, group: Address, campaign: str, message_id: str
    ) -> str | None:
        """Where ``user``, who typed /start [``campaign``] in the group chat ``group``, can talk
        to the bot privately: a link to show them in the group, or None when this platform has
        none to give (the core still tells them to write privately).

        The core asks once it decided the message is a group /start (qn_bot.rooms), before
        its transaction; the adapter may open the chat (Matrix invites the citizen to a new
        direct chat) and start the campaign there by delivering a message to its sink. Asked
        again for the same ``message_id`` (the core handles a message again when the
        database could not take it), it gives the same chat."""
        del user, group, campaign, message_id
        return None

    async def device_link(self, user: UserRef, message_id: str) -> DeviceLink | None:
        """A one-time link that lets ``user`` go on with their conversation on another device
        (/lien), or None when this platform needs none (a messenger's account follows its
        owner to every device). Asked by the core before the command's transaction; asked again
        for the same ``message_id`` (the core handles a message again when the database could
        not take it), it may give a new link: only the one shown works."""
        del user, message_id
        return None

    def reachable_chats(self) -> frozenset[str] | None:
        """The chats this connection can deliver to; None means every chat of the platform.

        A bot account reaches anyone, but a console reaches only its own terminal: two
        `qn-bot chat` processes on one database must not print each other's replies.
        """
        return None

    def bind_drain(self, drain: Callable[[], Awaitable[None]]) -> None:  # noqa: B027 - optional hook
        """Receive a way to wait until queued replies are sent; interactive adapters use it."""

    def ended(self) -> asyncio.Event | None:
        """Set when the adapter ends on its own (the console at end of input), if it can."""
        return None

    def health(self) -> str | None:
        """Why this connection cannot serve now (``"polling stopped"``), or None while it can.
        ``GET /healthz`` asks every adapter; say no secret and no user id here."""
        return None


class DeviceLinks(Protocol):
    """What the core asks of a platform for /lien: every :class:`Adapter` is one
    (:meth:`Adapter.device_link`)."""

    async def device_link(self, user: UserRef, message_id: str) -> DeviceLink | None: ...


class PrivateChats(Protocol):
    """What the core asks of a platform after deciding a group /start (qn_bot.rooms): every
    :class:`Adapter` is one (:meth:`Adapter.open_private_chat`)."""

    async def open_private_chat(
        self, user: UserRef, group: Address, campaign: str, message_id: str
    ) -> str | None: ...


class AdapterFactory(Protocol):
    """Entry point object: builds the adapter from the config, or None when not configured."""

    def __call__(self, config: Config, context: AdapterContext) -> Adapter | None: ...


@dataclass(frozen=True, slots=True)
class Platform:
    """What a platform package names at its entry point: how to build its adapter, and the
    model of its config section (``[<entry point name>]``), if it has one. Unknown keys in that
    section are errors, whatever the model says; environment variables
    ``QN_BOT_<NAME>_<KEY>`` override its keys, as for the built-in sections."""

    build: AdapterFactory
    config_section: type[BaseModel] | None = None
    # What its adapters can do, known without building one: the core shapes what it queues
    # for the platform by it (a digest fits one message of ``max_text_length``).
    capabilities: Capabilities | None = None

    def __call__(self, config: Config, context: AdapterContext) -> Adapter | None:
        return self.build(config, context)


def adapter_factories() -> dict[str, AdapterFactory]:
    """Installed adapters by platform name. One that fails to import is logged and left out."""
    factories: dict[str, AdapterFactory] = {}
    for ep in entry_points(group=ADAPTER_GROUP):
        try:
            factories[ep.name] = ep.load()
        except Exception:
            log.exception("adapter %r (%s) cannot be loaded; skipped", ep.name, ep.value)
    return factories


def declared_sections(names: set[str]) -> dict[str, type[BaseModel]]:
    """The config models that installed platforms named in ``names`` declare. Only those
    entry points are loaded: a config without such sections imports no platform library."""
    found: dict[str, type[BaseModel]] = {}
    for ep in entry_points(group=ADAPTER_GROUP):
        if ep.name not in names:
            continue
        declared = ep.load()  # a package that cannot load fails the config: its section is set
        if isinstance(declared, Platform) and declared.config_section is not None:
            found[ep.name] = declared.config_section
    return found


def declared_capabilities(platform: str) -> Capabilities:
    """What the installed ``platform`` declares it can do; the defaults when it declares
    nothing (or is not installed: nothing will be sent there anyway)."""
    for ep in entry_points(group=ADAPTER_GROUP, name=platform):
        declared = ep.load()
        if isinstance(declared, Platform) and declared.capabilities is not None:
            return declared.capabilities
    return Capabilities()
