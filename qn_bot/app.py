"""Wiring: the store, the service, the outbox worker and the adapters, started and stopped
together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from types import TracebackType

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.clock import Clock, utcnow
from qn_bot.config import Config
from qn_bot.domain import CampaignStatus, InboundMessage
from qn_bot.errors import DatabaseUnavailable
from qn_bot.flows.loader import resolve_flow
from qn_bot.heap import freeze_startup_heap
from qn_bot.leadership import Leadership
from qn_bot.ops.health import Health, outbox_backlog
from qn_bot.ops.health import check as check_health
from qn_bot.ops.http import OpsServer
from qn_bot.ops.logs import CORRELATION, new_correlation
from qn_bot.ops.metrics import Metrics, ObservedLeadership
from qn_bot.outbox import OutboxWorker
from qn_bot.ports import Adapter, AdapterContext, adapter_factories
from qn_bot.repositories import PseudonymFactory
from qn_bot.retrying import until_available
from qn_bot.scheduler import ALL_JOBS, CAMPAIGN_JOBS, Scheduler
from qn_bot.service import Service
from qn_bot.store.instance import single_process
from qn_bot.store.kv import StoreKeyValue
from qn_bot.store.leadership import leadership_for
from qn_bot.store.migrate import upgrade
from qn_bot.store.rows import random_pseudonym
from qn_bot.store.sql import Store
from qn_bot.store.transcripts import StoreTranscripts
from qn_bot.themes.worker import EmbeddingWorker

log = logging.getLogger(__name__)

#: A graceful stop (SIGTERM, SIGINT) is over within this many seconds: taking no more updates
#: and handling those in hand (Telegram's dispatcher gives them 5 s), sending what is due
#: (DRAIN_ON_STOP), the outbox's sends in flight (WORKER_GRACE), closing. Each step is bounded
#: (about 17 s in all); past this the process exits anyway (status 1). Under systemd's
#: TimeoutStopSec=30 (deploy/qn-bot.service).
STOP_WITHIN = 25.0
DRAIN_ON_STOP = 5.0
WORKER_GRACE = 5.0

DEFAULT_CAMPAIGN = ("construire-2030", "construire-2030", "Construire 2030", None)


async def prepare_database(config: Config, clock: Clock = utcnow) -> None:
    """Apply migrations; on an empty database create and open the built-in campaign."""
    # Several processes may start at once on an empty PostgreSQL database: one migrates and
    # creates the campaign, the others then find it done.
    leadership = leadership_for(config.database.url)
    try:
        async with leadership.hold("schema"):
            await _prepare(config, clock)
    finally:
        await leadership.close()


async def _prepare(config: Config, clock: Clock) -> None:
    await upgrade(config.database.url)
    store = Store.from_url(config.database.url)
    try:
        async with store.transaction() as tx:
            if await tx.campaigns.campaigns():
                return
            slug, flow_id, title, edition = DEFAULT_CAMPAIGN
            await create_campaign(
                tx, slug=slug, flow=resolve_flow(flow_id), title=title, edition=edition, now=clock()
            )
            await set_status(tx, slug, CampaignStatus.OPEN, clock())
            log.info(
                "empty database: created and opened campaign %s from the built-in template", slug
            )
    finally:
        await store.close()


class Application:
    """Everything `qn-bot run` starts. Usable with ``async with``; ``stop()`` is idempotent."""

    def __init__(
        self,
        config: Config,
        adapters: list[Adapter] | None = None,
        *,
        clock: Clock = utcnow,
        pseudonyms: PseudonymFactory = random_pseudonym,
        metrics: Metrics | None = None,
        terminal: bool = False,
    ) -> None:
        """``terminal``: one citizen's `qn-bot chat`, beside the running bot. It runs neither the
        embedding worker (the model would load in every terminal and delay other citizens'
        replies) nor the service's scheduled jobs (recap waves, digests, reminders, the purge):
        only the campaigns' opening and closing, which decide what the citizen is asked."""
        self.config = config
        self._embed = not terminal
        self.metrics = metrics if metrics is not None else Metrics()
        self.store = Store.from_url(config.database.url)
        # One for all: on PostgreSQL each role held opens its own connection.
        self.leadership: Leadership = ObservedLeadership(
            leadership_for(config.database.url), self.metrics
        )
        # One for all: one group commit, and the outbox tells the pages of what it kept.
        self.transcripts = StoreTranscripts(self.store, clock)
        if adapters is None:
            adapters = configured_adapters(
                config, self.store, clock, self.leadership, self.transcripts
            )
        self.adapters = {adapter.platform: adapter for adapter in adapters}
        self.worker = OutboxWorker(
            self.store,
            self.adapters,
            config=config.outbox,
            clock=clock,
            leadership=self.leadership,
            retention=config.retention,
            metrics=self.metrics,
            on_kept=self.transcripts.kept,
        )
        self.service = Service(
            self.store,
            clock=clock,
            pseudonyms=pseudonyms,
            admins=config.admins,
            default_language=config.language,
            on_commit=self.worker.notify,
            reminders=config.reminders,
            teams=config.teams,
            limits=config.limits,
            moderation=config.moderation,
            unlimited_platforms=frozenset(
                name for name, a in self.adapters.items() if not a.capabilities.sender_limits
            ),
            private_chats=self.adapters,
            device_links=self.adapters,
            on_batch=self.metrics.batch_size.observe,
            site=config.site,
            on_kept=self.transcripts.kept,
        )
        self.scheduler = Scheduler(
            self.store,
            config,
            clock=clock,
            on_queued=self.worker.notify,
            metrics=self.metrics,
            jobs=CAMPAIGN_JOBS if terminal else ALL_JOBS,
        )
        # Themes by meaning: items embedded in the background, never on the message path.
        self.embedding = EmbeddingWorker(self.store, leadership=self.leadership)
        self.http: OpsServer | None = None
        if config.http.port is not None:
            self.http = OpsServer(
                listen=config.http.listen,
                port=config.http.port,
                metrics=self.metrics,
                health=self.health,
                refresh=self.refresh_metrics,
            )
        self._started: list[Adapter] = []

    async def handle(self, msg: InboundMessage) -> None:
        # A database that cannot answer now (SQLite locked by another process longer than
        # busy_timeout, PostgreSQL restarting) loses nothing: the message is handled again,
        # with a capped backoff, until it commits. Telegram's polling would not deliver it
        # again, and an adapter only confirms a message once this returns. Only this
        # conversation waits (the adapters handle other chats concurrently); its later
        # messages queue behind it, in order. It counts once against the flood limit.
        started = time.perf_counter()
        outcome = "failed"
        correlation = new_correlation()  # on every log line about this message
        verdict = self.service.admit(msg)

        def waiting(error: DatabaseUnavailable, delay: float) -> None:
            self.metrics.database_errors.labels("inbound").inc()
            log.warning(
                "a message from %s could not be stored (%s); retrying in %.1f s",
                msg.sender.platform,
                error,
                delay,
            )

        try:
            result = await until_available(lambda: self.service.handle(msg, verdict), waiting)
            outcome = (
                "refused" if result.refused else "duplicate" if result.duplicate else "handled"
            )
        except Exception:
            # One failing message must never stop an adapter's loop: log it, apologise, go
            # on. Its idempotency key was rolled back, so a redelivery is tried afresh.
            log.exception("failed to handle a message from %s", msg.sender.platform)
            try:
                await self.service.apologise(msg)
            except Exception:
                log.exception("could not even queue an apology")
        finally:
            self.metrics.record_message(msg.sender.platform, outcome, time.perf_counter() - started)
            CORRELATION.reset(correlation)

    async def health(self) -> Health:
        return await check_health(self.store, self.adapters)

    async def refresh_metrics(self) -> None:
        """What a scrape reads from the database: the outbox backlog per platform."""
        now = utcnow()
        backlog = await outbox_backlog(self.store, now)
        for platform in self.adapters:
            backlog.setdefault(platform, (0, None))
        self.metrics.observe_backlog(backlog, now)

    async def start(self) -> None:
        if self.http is not None:
            await self.http.start()
        await self.worker.start()
        await self.scheduler.start()
        if self._embed:
            await self.embedding.start()
        for adapter in self.adapters.values():
            adapter.bind_drain(self.worker.drain)
            await adapter.start(self.handle)
            self._started.append(adapter)
            log.info("adapter %s started", adapter.platform)

    async def stop_receiving(self) -> None:
        """The first half of a stop: no more inbound messages (those in hand are handled and
        committed) and no more scheduled jobs; the adapters can still send."""
        for adapter in reversed(self._started):
            try:
                await adapter.stop_receiving()
            except Exception:
                log.exception("adapter %s failed to stop receiving cleanly", adapter.platform)
        await self.scheduler.stop()
        await self.embedding.stop()

    async def stop(self) -> None:
        await self.stop_receiving()
        # Before the adapters close their connections: the sends in flight finish (a send
        # to a closed connection failed and counted as an attempt) and the worker hands back
        # what it claimed and did not send.
        await self.worker.stop(grace=WORKER_GRACE)
        while self._started:
            adapter = self._started.pop()
            try:
                await adapter.stop()
            except Exception:
                log.exception("adapter %s failed to stop cleanly", adapter.platform)
        if self.http is not None:
            await self.http.stop()
        await self.transcripts.close()
        await self.leadership.close()
        await self.store.close()

    async def __aenter__(self) -> Application:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def configured_adapters(
    config: Config,
    store: Store,
    clock: Clock = utcnow,
    leadership: Leadership | None = None,
    transcripts: StoreTranscripts | None = None,
) -> list[Adapter]:
    """Every adapter whose platform is configured; the console when there is none."""
    factories = adapter_factories()
    if leadership is None:
        leadership = leadership_for(store.engine.url)
    if transcripts is None:
        transcripts = StoreTranscripts(store, clock)  # one writer for all: one group commit

    def context(name: str) -> AdapterContext:
        return AdapterContext(
            kv=StoreKeyValue(store, clock, f"adapter:{name}"),
            clock=clock,
            leadership=leadership,
            transcripts=transcripts,
        )

    adapters = [
        adapter
        for name, factory in sorted(factories.items())
        if name != "console" and (adapter := factory(config, context(name))) is not None
    ]
    if not any(adapter.receives for adapter in adapters) and "console" in factories:
        console = factories["console"](config, context("console"))
        if console is not None:
            adapters.append(console)
    return adapters


async def run_forever(config: Config) -> None:
    # Before anything else: a second process on one SQLite file stops here, having touched
    # nothing (the lock is the kernel's: it goes with the process, even on SIGKILL).
    with single_process(config.database.url):
        await _serve(config)


async def _serve(config: Config) -> None:
    # First of all: a SIGTERM while migrating is a stop once that is done, not a kill.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await prepare_database(config)
    if stop.is_set():
        return
    async with Application(config) as app:
        freeze_startup_heap()
        waiters = [asyncio.create_task(stop.wait())]
        for adapter in app.adapters.values():
            ended = adapter.ended()
            if ended is not None:
                waiters.append(asyncio.create_task(ended.wait()))
        log.info("qn-bot running with %s", ", ".join(app.adapters) or "no adapter")
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if stop.is_set():
            log.info("stopping: no more updates taken, finishing what is in hand")
            _exit_if_stuck(STOP_WITHIN)
        await app.stop_receiving()
        # Replies to what was just handled go out now rather than after the restart.
        await app.worker.drain(within=DRAIN_ON_STOP)
    log.info("stopped")


def _exit_if_stuck(within: float) -> None:
    """A bound the operator can rely on, whatever a step waits for (a database that hangs):
    a thread, since the event loop itself may be what is stuck."""

    def stuck() -> None:
        log.critical("could not stop within %.0f s: exiting anyway", within)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(within, stuck)
    timer.daemon = True
    timer.start()
