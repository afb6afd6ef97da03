"""The Telegram adapter: lifecycle, receiving (polling or webhook) and sending.

qn-bot's own event loop drives python-telegram-bot's :class:`telegram.Bot` (initialize / shutdown);
nothing here blocks or runs a loop of its own. Updates of different chats are handled concurrently,
those of one chat in order (:class:`ChatDispatcher`). Sending is paced (:class:`Pacer`) and
python-telegram-bot's errors become qn-bot's delivery errors, which the outbox worker acts on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from telegram import Bot, CallbackQuery, LinkPreviewOptions
from telegram import error as tg
from telegram.constants import ParseMode
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from qn_bot.clock import Clock, utcnow
from qn_bot.config import Config
from qn_bot.domain import Address, Attachment, Envelope, UserRef
from qn_bot.errors import (
    ConfigError,
    DatabaseUnavailable,
    PermanentDeliveryError,
    RetryAfter,
    TransientDeliveryError,
)
from qn_bot.leadership import Granted, Leadership, Lease, run_exclusively, secret_label
from qn_bot.ports import Adapter, AdapterContext, InboundSink, KeyValue, Platform
from qn_bot.retrying import until_available

from .dispatch import ChatDispatcher
from .errors import delivery_error, retry_after_seconds
from .http import AiohttpRequest
from .inbound import ALLOWED_UPDATES, PLATFORM, RECEIVED_KEY, UpdateReader, chat_key
from .menu import menu
from .pacing import Limits, Pacer
from .receiving import Poller, WebhookServer, default_webhook_secret
from .render import CAPABILITIES, CallbackCodec, Part, render

log = logging.getLogger(__name__)

PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_REMEMBERED_PROGRESS = 10_000
#: Telegram unreachable at start: try again after this, doubling up to the cap (a chat bot
#: should answer within seconds of the network coming back).
CONNECT_BACKOFF_FIRST = 0.5
CONNECT_BACKOFF_MAX = 5.0

Step = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    token: str
    base_url: str | None = None
    mode: str = "polling"  # polling | webhook
    webhook_url: str | None = None
    webhook_secret: str | None = None
    listen: str = "127.0.0.1"
    port: int = 8443
    bot_username: str | None = None
    poll_timeout: float = 30.0  # long polling, seconds
    poll_interval: float = 0.0  # pause after an empty answer (servers that ignore the timeout)
    limits: Limits = field(default_factory=Limits)
    # Bot API calls in flight at once: at 50 ms a call, 64 allow ~1,300 calls/s, far above
    # what Telegram lets a bot send (see http.py for why the pool is aiohttp's).
    connection_pool_size: int = 64
    concurrent_chats: int = 32  # updates of this many chats handled at once
    #: group chat id → campaign slug its /start links to (from the teams' destinations)
    group_campaigns: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> TelegramSettings | None:
        section = config.telegram
        if section.token is None:
            return None
        token = section.token.get_secret_value()
        if section.mode == "webhook" and not section.webhook_url:
            raise ConfigError(
                '[telegram] mode = "webhook" needs webhook_url (the public HTTPS URL)'
            )
        groups: dict[int, str] = {}
        for team in config.teams:
            for destination in team.destinations:
                platform, _, chat = destination.partition(":")
                if platform == PLATFORM and team.campaigns:
                    with contextlib.suppress(ValueError):
                        groups.setdefault(int(chat), team.campaigns[0])
        secret = section.webhook_secret.get_secret_value() if section.webhook_secret else None
        return cls(
            token=token,
            base_url=section.base_url,
            mode=section.mode,
            webhook_url=section.webhook_url,
            webhook_secret=secret,
            listen=section.listen,
            port=section.port,
            bot_username=section.bot_username,
            limits=Limits(
                per_bot_per_second=section.messages_per_second,
                per_chat_per_second=section.chat_messages_per_second,
                chat_burst=section.chat_burst,
                per_group_per_minute=section.group_messages_per_minute,
            ),
            group_campaigns=groups,
        )


class TelegramAdapter(Adapter):
    platform = PLATFORM

    def __init__(
        self,
        settings: TelegramSettings,
        kv: KeyValue,
        leadership: Leadership | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.kv = kv
        self.clock = clock
        # Processes sharing a database share this bot: one of them polls (the token is never
        # part of the role's name, only a digest of it).
        self.leadership = leadership if leadership is not None else Granted()
        self.polling_role = secret_label("telegram", settings.token)
        self.capabilities = dataclasses.replace(
            CAPABILITIES, messages_per_second=settings.limits.per_bot_per_second
        )
        base_url = settings.base_url or "https://api.telegram.org/bot"
        self._requests = (
            AiohttpRequest(
                connection_pool_size=settings.connection_pool_size,
                read_timeout=15.0,
                pool_timeout=10.0,
                media_write_timeout=60.0,
            ),
            AiohttpRequest(connection_pool_size=1, read_timeout=settings.poll_timeout + 10),
        )
        self.bot = Bot(
            settings.token,
            base_url=base_url,
            request=self._requests[0],
            get_updates_request=self._requests[1],
        )
        self.codec = CallbackCodec(kv)
        self.pacer = Pacer(settings.limits)
        self.reader = UpdateReader(self.codec)
        self.dispatcher = ChatDispatcher(settings.concurrent_chats)
        self._http_slots = asyncio.Semaphore(settings.connection_pool_size)
        self.username = settings.bot_username or ""
        self._sink: InboundSink | None = None
        self._poller: Poller | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._webhook: WebhookServer | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._progress: OrderedDict[int, int] = OrderedDict()  # outbox id → parts already sent
        self._initialized = False
        self._connect_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink
        # Telegram may be unreachable at start (network, DNS, a proxy not up yet): the bot keeps
        # trying in the background, as the Matrix adapter does, instead of failing to start.
        # Only a token Telegram refuses is the operator's to fix, and is said at once.
        try:
            await self._initialize()
        except tg.TelegramError as exc:
            log.warning("Telegram unreachable at start (%s); retrying in the background", exc)
            self._connect_task = asyncio.create_task(self._connect(), name="telegram-connect")
            self._connect_task.add_done_callback(_log_end)
        else:
            await self._begin()

    async def _connect(self) -> None:
        def waiting(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning("Telegram unreachable (%s); retrying in %.1f s", error, delay)

        # A refused token is a ConfigError, not a TelegramError: it ends this at once.
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(tg.TelegramError),
            wait=wait_exponential(multiplier=CONNECT_BACKOFF_FIRST, max=CONNECT_BACKOFF_MAX),
            before_sleep=waiting,
            reraise=True,
        )
        await retrying(self._initialize)
        log.info("Telegram reachable again: receiving and sending")
        await self._begin()

    async def _begin(self) -> None:
        self.username = self.settings.bot_username or self.bot.username
        await self._set_commands()
        if self.settings.mode == "webhook":
            await self._start_webhook()
        else:
            await self._start_polling()

    async def _initialize(self) -> None:
        """getMe; a token Telegram refuses is the operator's to fix (ConfigError)."""
        try:
            await self.bot.initialize()
        except tg.InvalidToken as exc:
            raise ConfigError(f"[telegram] token refused by Telegram: {exc}") from None
        self._initialized = True

    def health(self) -> str | None:
        if not self._initialized:
            return "telegram not reachable yet (getMe failed)"
        if self.settings.mode == "webhook":
            return None if self._webhook is not None else "telegram webhook not serving"
        task = self._poll_task
        if task is None or task.done():
            return "telegram polling stopped"
        return None

    def reachable_chats(self) -> frozenset[str] | None:
        # Until Telegram answered once, replies wait in the outbox without spending attempts.
        return None if self._initialized else frozenset()

    async def _set_commands(self) -> None:
        try:
            await self.bot.set_my_commands(menu("fr"))
            await self.bot.set_my_commands(menu("fr"), language_code="fr")
            await self.bot.set_my_commands(menu("en"), language_code="en")
        except tg.TelegramError as exc:
            log.warning("could not register the command menu: %s", exc)

    async def _start_polling(self) -> None:
        # Every process sends; only the holder of the polling role calls getUpdates, the others
        # wait to take it over (see qn_bot.leadership).
        self._poll_task = asyncio.create_task(
            run_exclusively(self.leadership, self.polling_role, self._poll),
            name="telegram-polling",
        )
        self._poll_task.add_done_callback(_log_end)

    async def _poll(self, lease: Lease) -> None:
        with contextlib.suppress(tg.TelegramError):
            # A webhook left by an earlier configuration would make getUpdates fail.
            await self.bot.delete_webhook(drop_pending_updates=False)
        # A fresh poller reads the journal (offset, updates not handled yet) the previous
        # holder left in the database, possibly another process that died.
        poller = self._poller = Poller(
            self.bot,
            self.kv,
            self._process,
            timeout=self.settings.poll_timeout,
            interval=self.settings.poll_interval,
        )
        try:
            await poller.run()
        finally:
            self._poller = None
            if lease.held:
                # Stopping: let the updates in hand finish, then journal what is left, while the
                # journal is still ours. A lost role leaves the journal to the new holder.
                await self.dispatcher.close()
                with contextlib.suppress(Exception):
                    await poller.save()

    async def _start_webhook(self) -> None:
        url = self.settings.webhook_url
        assert url is not None
        # Without a configured secret, one derived from the token: every process serving this
        # webhook (behind one load balancer) accepts the calls whichever set it last.
        secret = self.settings.webhook_secret or default_webhook_secret(self.settings.token)
        self._webhook = WebhookServer(
            self.bot,
            self._process,
            listen=self.settings.listen,
            port=self.settings.port,
            path=urlsplit(url).path or "/",
            secret=secret,
        )
        await self._webhook.start()
        await self.bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=list(ALLOWED_UPDATES),
        )

    async def stop_receiving(self) -> None:
        connecting, self._connect_task = self._connect_task, None
        if connecting is not None:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connecting
        # Polling ends between two getUpdates (one cut short is asked again by the next
        # process: its updates were not confirmed); the updates in hand are handled, and the
        # journal keeps the offset for the next holder.
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._webhook is not None:
            await self._webhook.stop()
            self._webhook = None
        await self.dispatcher.close()

    async def stop(self) -> None:
        await self.stop_receiving()
        for background in list(self._background):
            background.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._initialized:
            self._initialized = False
            with contextlib.suppress(Exception):
                await self.bot.shutdown()
        # A getMe that failed left the connection pools open (Bot.shutdown skips them then).
        for request in self._requests:
            with contextlib.suppress(Exception):
                await request.shutdown()

    # ------------------------------------------------------------------ receiving

    async def open_private_chat(
        self, user: UserRef, group: Address, campaign: str, message_id: str
    ) -> str | None:
        """A /start in a group, decided by the core: a deep link to the bot's private chat,
        starting the campaign typed, else the one the group's team follows."""
        del user, message_id
        slug = campaign or self.settings.group_campaigns.get(int(group.chat_id), "")
        base = f"https://t.me/{self.username}"
        return f"{base}?start={slug}" if slug else base

    def _process(self, update: dict[str, Any]) -> asyncio.Future[None]:
        # Stamped as it arrives, before it waits behind the chat's earlier updates; the poller
        # journals the stamp with the update, so a replay after a crash keeps it.
        update.setdefault(RECEIVED_KEY, self.clock().isoformat())
        return self.dispatcher.submit(chat_key(update), lambda: self._handle(update))

    async def _handle(self, update: dict[str, Any]) -> None:
        # Reading a pressed button may need the database (data too long for Telegram is kept
        # there): one that cannot answer now is waited for, since polling confirmed the update
        # to Telegram already and the journal lets go of it once this returns.
        reading = await until_available(
            lambda: self.reader.read_raw(update, self.bot), _waiting_to_read
        )
        if reading.callback is not None:
            self._spawn(self._acknowledge(reading.callback))
        if reading.inbound is not None and self._sink is not None:
            await self._sink(reading.inbound)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _acknowledge(self, query: CallbackQuery) -> None:
        """Answer the callback query (stops the client's spinner) and take the keyboard away."""

        async def answer() -> None:
            try:
                async with self._http_slots:
                    await query.answer()
            except tg.TelegramError as exc:  # too old, or already answered before a restart
                log.debug("callback query %s not answered: %s", query.id, exc)

        async def unmark() -> None:
            message = query.message
            if message is None:
                return
            try:
                async with self._http_slots:
                    await self.bot.edit_message_reply_markup(
                        chat_id=message.chat.id, message_id=message.message_id, reply_markup=None
                    )
            except tg.TelegramError as exc:  # "message is not modified" after a redelivery…
                log.debug("keyboard of message %s not removed: %s", message.message_id, exc)

        await asyncio.gather(answer(), unmark())

    # ------------------------------------------------------------------ sending

    async def send(self, envelope: Envelope) -> None:
        try:
            chat_id = int(envelope.address.chat_id)
        except ValueError as exc:
            raise PermanentDeliveryError("not a Telegram chat id") from exc
        steps = await self._steps(chat_id, envelope)
        done = self._progress.pop(envelope.outbox_id, 0)
        for index, step in enumerate(steps):
            if index < done:
                continue  # sent before a 429 or a network error interrupted this message
            await self.pacer.wait(envelope.address.chat_id)
            try:
                async with self._http_slots:
                    await step()
            except tg.TelegramError as exc:
                if isinstance(exc, tg.RetryAfter):
                    self.pacer.pause(retry_after_seconds(exc))
                error = delivery_error(exc)
                if index and isinstance(error, RetryAfter | TransientDeliveryError):
                    self._remember_progress(envelope.outbox_id, index)
                raise error from exc

    def _remember_progress(self, outbox_id: int, parts: int) -> None:
        self._progress[outbox_id] = parts
        while len(self._progress) > MAX_REMEMBERED_PROGRESS:
            self._progress.popitem(last=False)

    async def _steps(self, chat_id: int, envelope: Envelope) -> list[Step]:
        """One call per Telegram message: the text parts, then each attachment."""
        message = envelope.message
        steps: list[Step] = [
            functools.partial(self._send_part, chat_id, part)
            for part in await render(message, self.codec, self.capabilities)
        ]
        steps += [functools.partial(self._send_file, chat_id, a) for a in message.attachments]
        return steps

    async def _send_part(self, chat_id: int, part: Part) -> None:
        await self.bot.send_message(
            chat_id=chat_id,
            text=part.html,
            parse_mode=ParseMode.HTML,
            reply_markup=part.keyboard,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    async def _send_file(self, chat_id: int, attachment: Attachment) -> None:
        if attachment.media_type in PHOTO_TYPES:
            await self.bot.send_photo(
                chat_id=chat_id, photo=attachment.data, filename=attachment.filename
            )
        else:
            await self.bot.send_document(
                chat_id=chat_id, document=attachment.data, filename=attachment.filename
            )


def _waiting_to_read(error: DatabaseUnavailable, delay: float) -> None:
    log.warning("a Telegram update cannot be read yet (%s); retrying in %.1f s", error, delay)


def _log_end(task: asyncio.Task[None]) -> None:
    if task.cancelled() or task.exception() is None:
        return
    error = task.exception()
    if isinstance(error, ConfigError):  # the token was refused: nothing to retry
        log.critical("Telegram stopped: %s", error)
    else:
        log.critical("Telegram stopped", exc_info=error)


def build_adapter(config: Config, context: AdapterContext) -> Adapter | None:
    """Entry point `telegram`: an adapter when ``[telegram] token`` is set, else None."""
    settings = TelegramSettings.from_config(config)
    if settings is None:
        return None
    return TelegramAdapter(settings, context.kv, context.leadership, context.clock)


#: The entry point (pyproject.toml, group qn_bot.adapters): how to build the adapter, and what
#: it can do.
TelegramAdapterFactory = Platform(build_adapter, capabilities=CAPABILITIES)

__all__ = ["TelegramAdapter", "TelegramAdapterFactory", "TelegramSettings"]
