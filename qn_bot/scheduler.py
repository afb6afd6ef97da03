"""Scheduled work: campaign opening/closing, reminders, weekly digests, citizens' recaps and the
retention purge (APScheduler 3.11).

Every team's digest is a cron job at its weekday and local time (DST-safe: the trigger runs in
the team's IANA time zone).

APScheduler 3 keeps its jobs in memory and cannot share a job store between processes, so the
schedules live in our own tables and config and the jobs are rebuilt at every start. Each run
claims its work in the database first (compare-and-set on a campaign's status, dedupe keys on
outbox rows, a unique job row per digest), so several processes on one database never do the
same work twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from qn_bot.campaigns import apply_schedule
from qn_bot.clock import Clock, utcnow
from qn_bot.config import Config, TeamConfig
from qn_bot.digest.send import catch_up, send_digest
from qn_bot.ops.metrics import Metrics
from qn_bot.recap.send import send_due_waves
from qn_bot.reminders import send_due_reminders
from qn_bot.repositories import CompactedDatabase
from qn_bot.retention import purge

log = logging.getLogger(__name__)

CAMPAIGN_CHECK_SECONDS = 30.0
#: Every job; a terminal chat runs only CAMPAIGN_JOBS (see :class:`Scheduler`).
ALL_JOBS = frozenset({"campaigns", "recaps", "reminders", "digests", "retention"})
#: What a citizen's terminal needs: campaigns open and close on time, so it asks what is open.
CAMPAIGN_JOBS = frozenset({"campaigns"})


class Scheduler:
    """Owns the APScheduler instance; usable with ``async with``."""

    def __init__(
        self,
        store: CompactedDatabase,
        config: Config,
        *,
        clock: Clock = utcnow,
        on_queued: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
        jobs: frozenset[str] = ALL_JOBS,
    ) -> None:
        """``jobs``: which of :data:`ALL_JOBS` run here. `qn-bot run` runs them all; `qn-bot chat`
        is one citizen's terminal beside the running bot and runs only the campaigns' schedule —
        recap waves, digests and reminders belong to the service (a terminal would also make
        every chat's start pay for a wave's themes)."""
        unknown = jobs - ALL_JOBS
        if unknown:
            raise ValueError(f"unknown scheduled jobs: {sorted(unknown)}")
        self.jobs = jobs
        self.store = store
        self.config = config
        self.clock = clock
        self.on_queued = on_queued
        self.metrics = metrics
        self._aps: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        aps = AsyncIOScheduler(timezone=UTC)

        def every(
            name: str, job: Callable[[], Awaitable[int]], seconds: float, *, at_start: bool
        ) -> None:
            aps.add_job(
                self._guarded(job),
                IntervalTrigger(seconds=seconds),
                id=name,
                # APScheduler runs on the wall clock; the injected clock only decides what is due.
                next_run_time=datetime.now(UTC) if at_start else None,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )

        if "campaigns" in self.jobs:
            # At start too: a campaign that fell due while we were down.
            every("campaigns", self.tick_campaigns, CAMPAIGN_CHECK_SECONDS, at_start=True)
        if "recaps" in self.jobs:
            # Each citizen's recap once a wave ends (a team's week once its digest is out, a
            # campaign's close); at start too: a wave a crash interrupted is finished.
            every("recaps", self.send_recaps, CAMPAIGN_CHECK_SECONDS, at_start=True)
        if "reminders" in self.jobs:
            every(
                "reminders",
                self.tick_reminders,
                self.config.reminders.check_every_seconds,
                at_start=False,
            )
        if "retention" in self.jobs:
            # Not at start: an adapter replays what it received before a restart first, and
            # the keys that recognise those messages must still be there (a bot down longer
            # than the keys' retention would otherwise lose them to the first purge).
            every(
                "retention",
                self.purge_old_data,
                self.config.retention.purge_every_minutes * 60.0,
                at_start=False,
            )
        if "digests" in self.jobs:
            for team in self.config.teams:
                aps.add_job(
                    self._guarded(functools.partial(self.send_team_digest, team)),
                    CronTrigger(
                        day_of_week=team.weekday[:3],
                        hour=team.time.hour,
                        minute=team.time.minute,
                        timezone=ZoneInfo(team.timezone),
                    ),
                    id=f"digest:{team.name}",
                    coalesce=True,
                    max_instances=1,
                    misfire_grace_time=None,
                )
            if self.config.teams:
                # A digest missed while the bot was down goes out once now, marked late.
                aps.add_job(
                    self._guarded(self.catch_up_digests),
                    id="digest-catch-up",
                    next_run_time=datetime.now(UTC),
                    misfire_grace_time=None,
                )
        aps.start()
        self._aps = aps

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._aps.get_jobs()) if self._aps is not None else []

    async def stop(self) -> None:
        """No job runs once this returns. APScheduler's own shutdown only asks the runs in
        progress to cancel; they are awaited here, so that each ends its transaction before the
        store closes — a run cut short after that kept its SQLite connection (and the thread
        aiosqlite gives it) open, and the process never exited."""
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        running = [task for task in self._running if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)

    async def __aenter__(self) -> Scheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _guarded(self, job: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[None]]:
        """A failing run is logged and retried at the next tick; it never stops the scheduler."""

        name = getattr(job, "__name__", None) or repr(job)

        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                queued = await job()
            except asyncio.CancelledError:
                # The process is stopping: every job claims its work first, so what this run
                # did not finish is taken up at the next start — not an error to report.
                log.info("scheduled job %s stopped mid-run", name)
                return
            except Exception:
                log.exception("scheduled job %s failed", name)
                return
            finally:
                if task is not None:
                    self._running.discard(task)
            if queued and self.on_queued is not None:
                self.on_queued()

        run.__name__ = name
        return run

    async def tick_campaigns(self) -> int:
        async with self.store.transaction() as tx:
            changed = await apply_schedule(tx, self.clock())
        for slug, status in changed:
            log.info(
                "campaign %s is now %s (scheduled)", slug, status.value, extra={"campaign": slug}
            )
        return len(changed)

    async def send_team_digest(self, team: TeamConfig) -> int:
        sent = await send_digest(self.store, self.config, team, self.clock(), late=False)
        if sent and self.metrics is not None:
            self.metrics.digests.inc()
        log.info("digest of team %s: %s", team.name, "sent" if sent else "already sent")
        return int(sent)

    async def catch_up_digests(self) -> int:
        sent = await catch_up(self.store, self.config, self.clock())
        if self.metrics is not None:
            self.metrics.digests.inc(len(sent))
        for key in sent:
            log.info("missed digest %s sent late", key)
        return len(sent)

    async def send_recaps(self) -> int:
        queued = await send_due_waves(self.store, self.config, self.clock())
        if self.metrics is not None:
            self.metrics.recaps.inc(queued)
        if queued:
            log.info("%d recap(s) queued", queued)
        return queued

    async def purge_old_data(self) -> int:
        await purge(self.store, self.config.retention, self.clock())
        return 0  # nothing queued

    async def tick_reminders(self) -> int:
        queued = await send_due_reminders(self.store, self.config.reminders, self.clock())
        if self.metrics is not None:
            self.metrics.reminders.inc(queued)
        if queued:
            log.info("%d reminder(s) queued", queued)
        return queued
