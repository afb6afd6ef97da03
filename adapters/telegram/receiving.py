"""Getting updates from Telegram: long polling with a durable journal, or a webhook.

Polling. Telegram forgets every update below the ``offset`` of the next getUpdates call, and the
bot confirms a batch long before each of its updates has been handled (different chats are handled
concurrently). So before asking for more, the poller writes the new offset *and* the updates
not yet handled to the adapter's durable key-value store, in one write. After a crash (even
SIGKILL) those updates are handled again at start; the ones that had been committed are
recognised by their idempotency keys and change nothing, the others are not lost. The offset
makes a restart resume where it was rather than replay. The journal keeps as little as it can:
each update is cut down to what handling it needs as it arrives (:func:`journal_entry`: no names),
and handled updates leave it within :data:`FLUSH_SECONDS`, even if nothing else arrives.
Several processes on one PostgreSQL share that journal: only the holder of the bot's polling
role polls (qn_bot.leadership), and a process taking the role over from a dead one starts from
the journal it left.

Webhook. Telegram POSTs each update with the secret token in a header; the answer is given only
once the update has been handled, so an update that was not committed is redelivered by Telegram.
Every process serves the webhook (no role needed): an update that reaches two of them is stored
once (its idempotency key comes from the update).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from telegram import Bot
from telegram import error as tg
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    wait_exponential,
)

from qn_bot.ports import KeyValue

from .errors import retry_after_seconds
from .inbound import ALLOWED_UPDATES, journal_entry

log = logging.getLogger(__name__)

JOURNAL_KEY = "polling"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_BACKOFF = 30.0
#: How soon the journal is written again once updates in it have been handled.
FLUSH_SECONDS = 0.5


def default_webhook_secret(token: str) -> str:
    """The webhook's secret token when none is configured: the same in every process of one
    bot, useless to anyone who does not have the bot token itself (which owns the bot anyway)."""
    return hmac.new(token.encode(), b"qn-bot webhook secret", hashlib.sha256).hexdigest()


#: Queues an update (raw JSON) for handling; the future ends once it has been handled.
Process = Callable[[dict[str, Any]], "asyncio.Future[None]"]


class Poller:
    def __init__(
        self,
        bot: Bot,
        kv: KeyValue,
        process: Process,
        *,
        timeout: float = 30.0,
        interval: float = 0.0,
        flush: float = FLUSH_SECONDS,
    ) -> None:
        self.bot = bot
        self.kv = kv
        self.process = process
        self.timeout = timeout
        self.interval = interval
        self.flush = flush
        self.offset = 0
        self._pending: dict[int, dict[str, Any]] = {}
        self._saved: tuple[int, frozenset[int]] | None = None  # what the journal holds
        self._saving = asyncio.Lock()  # one write at a time, each of the latest state
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False

    async def run(self) -> None:
        try:
            await self._poll()
        finally:
            # A poller that stops (or loses the role) writes nothing more by itself: the
            # journal is the next holder's now (the adapter saves it one last time if it may).
            self._stopped = True
            flusher, self._flusher = self._flusher, None
            if flusher is not None:
                flusher.cancel()

    async def _poll(self) -> None:
        await self._replay()
        while True:
            try:
                updates = await self._patient_get_updates()
            except tg.InvalidToken:
                log.critical("Telegram refused the bot token: polling stops")
                raise
            fresh = [u for u in updates if int(u["update_id"]) >= self.offset]
            if fresh:
                self.offset = int(fresh[-1]["update_id"]) + 1
                for update in fresh:
                    self._track(update)
                await self.save()
            elif self.interval > 0:
                await asyncio.sleep(self.interval)

    async def _patient_get_updates(self) -> list[dict[str, Any]]:
        """getUpdates until it answers. A flood reply waits what Telegram asks and does not
        lengthen the backoff; any other failure (a bug or a malformed answer included: they must
        not end polling for good) waits 1, 2, 4 … 30 s; a wrong token ends polling. Each call
        starts from the shortest wait again. Cancellation (stop, a lost role) ends it at once:
        tenacity retries only ``Exception``s."""
        backoffs = 0  # failures other than flood replies, in this call

        def wait(state: RetryCallState) -> float:
            nonlocal backoffs
            error = state.outcome.exception() if state.outcome is not None else None
            if isinstance(error, tg.RetryAfter):
                return retry_after_seconds(error)
            backoffs += 1
            return float(min(MAX_BACKOFF, 2 ** (backoffs - 1)))

        def failed(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            if isinstance(error, tg.RetryAfter):
                return
            if isinstance(error, tg.Conflict):
                log.error("another getUpdates or a webhook is active for this bot: %s", error)
            elif isinstance(error, tg.TelegramError):
                log.warning("getUpdates failed (%s); retrying in %.0f s", error, delay)
            else:
                log.error(
                    "getUpdates failed unexpectedly; retrying in %.0f s", delay, exc_info=error
                )

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception) & retry_if_not_exception_type(tg.InvalidToken),
            wait=wait,
            before_sleep=failed,
            reraise=True,
        )
        updates: list[dict[str, Any]] = await retrying(self._get_updates)
        return updates

    async def _get_updates(self) -> list[dict[str, Any]]:
        """getUpdates, raw: python-telegram-bot's get_updates parses the whole batch at once, and
        one update it cannot parse (a newer Bot API field) would stop polling for good. Each
        update is parsed on its own later. ("getupdates": Bot API method names are
        case-insensitive, and this spelling keeps do_api_request from warning.)"""
        result = await self.bot.do_api_request(
            "getupdates",
            api_kwargs={
                "offset": self.offset or None,
                "timeout": int(self.timeout),
                "allowed_updates": list(ALLOWED_UPDATES),
            },
            read_timeout=self.timeout + 10,
        )
        if not isinstance(result, list):
            raise tg.TelegramError(f"unexpected getUpdates result: {result!r}"[:200])
        return [u for u in result if isinstance(u, dict) and "update_id" in u]

    async def _replay(self) -> None:
        state: Any = await _patiently("read the Telegram update journal")(self.kv.get, JOURNAL_KEY)
        if not isinstance(state, dict):
            return
        self.offset = int(state.get("offset", 0))
        pending = state.get("pending", [])
        if pending:
            log.info("handling %d Telegram updates received before a restart", len(pending))
        for raw in pending:
            self._track(raw)

    def _track(self, update: dict[str, Any]) -> None:
        # Handled as journaled: what a replay after a crash sees is what was seen live.
        update = journal_entry(update)
        update_id = int(update["update_id"])
        self._pending[update_id] = update

        def done(future: asyncio.Future[None]) -> None:
            if not future.cancelled():  # cancelled at shutdown: keep it for the next start
                self._pending.pop(update_id, None)
                self._flush_soon()

        self.process(update).add_done_callback(done)

    def _flush_soon(self) -> None:
        if self._stopped:
            return
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush(), name="telegram-journal-flush"
            )

    async def _flush(self) -> None:
        await asyncio.sleep(self.flush)
        await self.save()

    async def save(self) -> None:
        """Write offset and unhandled updates; retried until it works (nothing is confirmed
        to Telegram before). A state the journal already holds is not written again."""
        async with self._saving:
            await _patiently("record the Telegram offset")(self._save_once)

    async def _save_once(self) -> None:
        # Read anew at each try: what a retry writes is the latest state.
        current = (self.offset, frozenset(self._pending))
        if current == self._saved:
            return
        state = {"offset": self.offset, "pending": list(self._pending.values())}
        await self.kv.set(JOURNAL_KEY, state)
        self._saved = current


def _patiently(what: str) -> AsyncRetrying:
    """Retries for the journal: whatever fails (the database away, a bug), waiting 0.5, 1, 2 …
    30 s, for as long as it takes; cancellation ends it at once."""

    def failed(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.error("cannot %s; retrying", what, exc_info=error)

    return AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_exponential(multiplier=0.5, max=MAX_BACKOFF),
        before_sleep=failed,
        reraise=True,
    )


class WebhookServer:
    """A small aiohttp server receiving Telegram's POSTs on ``path``."""

    def __init__(
        self, bot: Bot, process: Process, *, listen: str, port: int, path: str, secret: str
    ) -> None:
        self.bot = bot
        self.process = process
        self.listen = listen
        self.port = port
        self.path = path or "/"
        self.secret = secret
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self._receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.listen, self.port).start()
        self._runner = runner
        log.info("Telegram webhook listening on %s:%d%s", self.listen, self.port, self.path)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("webhook call without the right secret token refused")
            return web.Response(status=403)
        try:
            update = await request.json()
        except ValueError:
            return web.Response(status=400)
        if not isinstance(update, dict) or "update_id" not in update:
            return web.Response(status=400)
        try:
            await self.process(update)
        except Exception:
            return web.Response(status=500)  # Telegram will deliver it again
        return web.Response(status=200)
