"""The bot's Prometheus metrics, in one registry of its own that the core is handed.

Nothing here is a module-level global: :class:`Metrics` owns a ``CollectorRegistry``, so two
applications in one process (tests) count apart, and code that is given no ``Metrics`` counts
nothing. Counters on the ingestion path are a lock and an addition each (bench/ingestion.py
measured no difference: see the report of issue 16).

Labels never carry a platform user id, a chat id, a name or an answer: a platform name, an
outcome, a role name (the bot's own account or a digest of its token) are all they hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from qn_bot.leadership import Leadership, Lease

PREFIX = "qn_bot"

#: Messages a batch may hold (GroupCommit's max_batch is 500).
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
#: From a message's arrival to its commit: milliseconds when quiet, seconds under a burst.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # CPU, memory, open files, start time (from /proc), and the Python version.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.messages = Counter(
            f"{PREFIX}_messages",
            "Inbound messages by platform and outcome (handled, duplicate, refused, failed)",
            ["platform", "outcome"],
            registry=r,
        )
        self.batch_size = Histogram(
            f"{PREFIX}_group_commit_batch_size",
            "Inbound messages written in one database transaction (group commit)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.answer_latency = Histogram(
            f"{PREFIX}_answer_latency_seconds",
            "From an inbound message's arrival to the commit of its answer",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.outbox_backlog = Gauge(
            f"{PREFIX}_outbox_backlog",
            "Messages waiting to be sent, per platform (read at each scrape)",
            ["platform"],
            registry=r,
        )
        self.outbox_oldest = Gauge(
            f"{PREFIX}_outbox_oldest_pending_seconds",
            "Age of the oldest message waiting to be sent, per platform (read at each scrape)",
            ["platform"],
            registry=r,
        )
        self.sends = Counter(
            f"{PREFIX}_sends",
            "Send attempts by platform and outcome (sent, retry, rate_limited, unreachable, "
            "failed)",
            ["platform", "outcome"],
            registry=r,
        )
        self.digests = Counter(
            f"{PREFIX}_digests", "Team digests queued for sending (each once)", registry=r
        )
        self.recaps = Counter(
            f"{PREFIX}_recaps", "Personal recaps queued for sending (each once)", registry=r
        )
        self.reminders = Counter(
            f"{PREFIX}_reminders", "Reminders queued for citizens who paused", registry=r
        )
        self.database_errors = Counter(
            f"{PREFIX}_database_errors",
            "Times the database could not answer (locked, unreachable) and work waited",
            ["where"],
            registry=r,
        )
        self.leadership = Gauge(
            f"{PREFIX}_leadership_held",
            "1 while this process holds the exclusive role (polling, sync, schema), else 0",
            ["role"],
            registry=r,
        )
        self.up = Gauge(f"{PREFIX}_healthy", "1 when the last health check passed", registry=r)

    def record_message(self, platform: str, outcome: str, seconds: float) -> None:
        """One inbound message done: its outcome, and how long until its answer committed."""
        self.messages.labels(platform, outcome).inc()
        self.answer_latency.labels(platform).observe(seconds)

    def observe_backlog(
        self, backlog: dict[str, tuple[int, datetime | None]], now: datetime
    ) -> None:
        """Set the outbox gauges from ``platform → (waiting, oldest created_at)``; a platform
        with nothing waiting reads 0, not its last value."""
        for labels in list(self.outbox_backlog._metrics):
            if labels[0] not in backlog:
                self.outbox_backlog.labels(*labels).set(0)
                self.outbox_oldest.labels(*labels).set(0)
        for platform, (count, oldest) in backlog.items():
            self.outbox_backlog.labels(platform).set(count)
            age = (now - oldest).total_seconds() if oldest is not None else 0.0
            self.outbox_oldest.labels(platform).set(max(0.0, age))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class ObservedLeadership(Leadership):
    """A :class:`Leadership` whose roles show in ``qn_bot_leadership_held``."""

    def __init__(self, inner: Leadership, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def hold(self, role: str) -> AbstractAsyncContextManager[Lease]:
        return self._hold(role)

    @asynccontextmanager
    async def _hold(self, role: str) -> AsyncIterator[Lease]:
        gauge = self.metrics.leadership.labels(_role_label(role))
        async with self.inner.hold(role) as lease:
            gauge.set(1)

            async def watch() -> None:
                await lease.lost.wait()
                gauge.set(0)

            watcher = asyncio.get_running_loop().create_task(watch())
            try:
                yield lease
            finally:
                watcher.cancel()
                gauge.set(0)

    async def vacant(self, role: str) -> bool:
        return await self.inner.vacant(role)

    async def close(self) -> None:
        await self.inner.close()


def _role_label(role: str) -> str:
    # An outbox worker's role names the worker (random per process): one series per process
    # start would pile up, and the role kind says what an operator needs.
    kind, _, _ = role.partition(":")
    return kind if kind == "outbox-worker" else role
