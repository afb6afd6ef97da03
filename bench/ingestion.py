"""Ingestion through the core: N citizens answering at once, with group commit.

Measures answers per second, the latency of `Service.handle` (until the answer and its reply are
committed: the reply is an outbox row of the same transaction), and the peak RSS; beside them,
the raw rate of single-row INSERT + COMMIT with the sqlite3 module on the same kind of database
file, measured in the same run. PostgreSQL joins when QN_BOT_TEST_POSTGRES_URL names a server
(`make bench` starts a throwaway one).

Two loads: *saturated* — every citizen sends their next answer as soon as the previous one is
acknowledged (the throughput figure; latency there is only queueing: N / rate) — and *paced* —
1,000 citizens each answering after a random pause (exponential, mean 0.5 s), about 2,000
answers/s offered, far above any real campaign; its latency is the p99 figure.

Target (issue "PostgreSQL, several bot processes, and benchmarks"): ≥ 5,000 answers/s on SQLite
with durable commits, p99 ≤ 50 ms with 1,000 citizens.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.domain import Address, CampaignStatus, InboundKind, InboundMessage, UserRef
from qn_bot.flows.loader import resolve_flow
from qn_bot.heap import freeze_startup_heap
from qn_bot.ops.metrics import Metrics
from qn_bot.service import Service
from qn_bot.store.migrate import upgrade
from qn_bot.store.sql import Store

ANSWERS_PER_CITIZEN = 5
SCENARIOS = (100, 1000)
PACED_CITIZENS = 1000
PACED_ANSWERS = 10
PACED_MEAN_PAUSE = 0.5


def raw_sqlite_rate(path: Path, rows: int = 5000, synchronous: str = "NORMAL") -> float:
    """Single-row INSERT + COMMIT per row in WAL mode: the ceiling of one writer without
    group commit. NORMAL is the issue's reference loop; FULL (our setting) syncs each commit."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT)")
    start = time.perf_counter()
    for n in range(rows):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (text) VALUES (?)", (f"item {n}",))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return rows / elapsed


def message(user: str, n: int, text: str) -> InboundMessage:
    return InboundMessage(
        sender=UserRef("bench", user),
        address=Address("bench", user),
        message_id=f"{user}:{n}",
        kind=InboundKind.TEXT,
        text=text,
    )


async def ingest(
    url: str, citizens: int, *, paced: bool = False, metrics: Metrics | None = None
) -> dict[str, Any]:
    """``metrics``: counted as `qn-bot run` counts (qn_bot.app.Application.handle), to measure
    what the instrumentation costs the hot path."""
    await upgrade(url)
    store = Store.from_url(url)
    answers_each = PACED_ANSWERS if paced else ANSWERS_PER_CITIZEN
    rng = random.Random(citizens)
    try:
        async with store.transaction() as tx:
            flow = resolve_flow("construire-2030")
            now = datetime.now(UTC)
            await create_campaign(tx, slug="bench", flow=flow, title="Bench", now=now)
            await set_status(tx, "bench", CampaignStatus.OPEN, now)
        service = Service(store)
        if metrics is not None:
            service._commits.on_batch = metrics.batch_size.observe
        freeze_startup_heap()  # as `qn-bot run` does once started
        users = [f"u{n}" for n in range(citizens)]
        # Start and consent first (not measured): the measured part is answering.
        await asyncio.gather(*(service.handle(message(u, 0, "/start bench")) for u in users))
        await asyncio.gather(*(service.handle(message(u, 1, "1")) for u in users))
        latencies: list[float] = []

        async def citizen(user: str) -> None:
            for n in range(answers_each):
                if paced:
                    await asyncio.sleep(rng.expovariate(1 / PACED_MEAN_PAUSE))
                started = time.perf_counter()
                result = await service.handle(message(user, 10 + n, f"idée {n} de {user}"))
                latency = time.perf_counter() - started
                latencies.append(latency)
                if metrics is not None:
                    metrics.record_message(
                        "bench", "refused" if result.refused else "handled", latency
                    )

        cpu = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(citizen(u) for u in users))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        async with store.transaction() as tx:
            campaign = await tx.campaigns.campaign_by_slug("bench")
            assert campaign is not None
            stored = len(await tx.sessions.campaign_items(campaign.id))
    finally:
        await store.close()
    answers = citizens * answers_each
    assert stored == answers, f"{stored} items stored for {answers} answers"
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "citizens": citizens,
        "load": f"paced, mean pause {PACED_MEAN_PAUSE} s" if paced else "saturated",
        "answers": answers,
        "answers_per_s": round(answers / elapsed, 1),
        "cpu_ms_per_answer": round(cpu / answers * 1000, 3),
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


async def scenarios(url_for: Callable[[str], Awaitable[str]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for citizens in SCENARIOS:
        out[f"{citizens} citizens, saturated"] = await ingest(
            await url_for(f"s{citizens}"), citizens
        )
    out[f"{SCENARIOS[-1]} citizens, saturated, with metrics"] = await ingest(
        await url_for(f"m{SCENARIOS[-1]}"), SCENARIOS[-1], metrics=Metrics()
    )
    out[f"{PACED_CITIZENS} citizens, paced"] = await ingest(
        await url_for("paced"), PACED_CITIZENS, paced=True
    )
    return out


async def main() -> dict[str, Any]:
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}",
        "load_average": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_sqlite_rate(Path(tmp) / "raw.db")
        raw_full = raw_sqlite_rate(Path(tmp) / "raw-full.db", 2000, "FULL")
        result["sqlite3 INSERT+COMMIT loop"] = {
            "synchronous=NORMAL rows_per_s": round(raw),
            "synchronous=FULL rows_per_s": round(raw_full),
        }

        async def sqlite_url(name: str) -> str:
            return f"sqlite:///{Path(tmp) / f'bench-{name}.db'}"

        for name, figures in (await scenarios(sqlite_url)).items():
            figures["ratio_to_sqlite3_loop"] = round(figures["answers_per_s"] / raw, 3)
            result[f"sqlite, {name}"] = figures
    server = os.environ.get("QN_BOT_TEST_POSTGRES_URL")
    if server:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine

        admin = create_async_engine(server, isolation_level="AUTOCOMMIT")

        async def postgres_url(name: str) -> str:
            database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{database}"'))
            return make_url(server).set(database=database).render_as_string(hide_password=False)

        for name, figures in (await scenarios(postgres_url)).items():
            result[f"postgresql, {name}"] = figures
        await admin.dispose()
    saturated = result[f"sqlite, {SCENARIOS[-1]} citizens, saturated"]["answers_per_s"]
    paced_p99 = result[f"sqlite, {PACED_CITIZENS} citizens, paced"]["p99_ms"]
    result["target"] = "≥ 5,000 answers/s on SQLite; p99 ≤ 50 ms at 1,000 citizens"
    result["passed"] = saturated >= 5000 and paced_p99 <= 50
    return result
