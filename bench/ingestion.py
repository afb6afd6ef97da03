"""Ingestion through the core: N citizens answering at once, one transaction per message.

Measures answers per second, the latency of `Service.handle` (until the answer and its reply are
committed: the reply is an outbox row of the same transaction), and the peak RSS; beside them,
the raw rate of single-row INSERT + COMMIT with the sqlite3 module on the same kind of database
file, measured in the same run. PostgreSQL joins when QN_BOT_TEST_POSTGRES_URL names a server
(`make bench` starts a throwaway one).

Target (issue "PostgreSQL, several bot processes, and benchmarks"): ≥ 5,000 answers/s on SQLite
with durable commits, p99 ≤ 50 ms with 1,000 citizens.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.domain import Address, CampaignStatus, InboundKind, InboundMessage, UserRef
from qn_bot.flows.loader import resolve_flow
from qn_bot.service import Service
from qn_bot.store.migrate import upgrade
from qn_bot.store.sql import Store

ANSWERS_PER_CITIZEN = 5
SCENARIOS = (100, 1000)


def raw_sqlite_rate(path: Path, rows: int = 5000) -> float:
    """Single-row INSERT + COMMIT per row, WAL, synchronous=NORMAL: the ceiling of one writer."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
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


async def ingest(url: str, citizens: int) -> dict[str, Any]:
    await upgrade(url)
    store = Store.from_url(url)
    try:
        async with store.transaction() as tx:
            flow = resolve_flow("construire-2030")
            now = datetime.now(UTC)
            await create_campaign(tx, slug="bench", flow=flow, title="Bench", now=now)
            await set_status(tx, "bench", CampaignStatus.OPEN, now)
        service = Service(store)
        users = [f"u{n}" for n in range(citizens)]
        # Start and consent first (not measured): the measured part is answering.
        await asyncio.gather(*(service.handle(message(u, 0, "/start bench")) for u in users))
        await asyncio.gather(*(service.handle(message(u, 1, "1")) for u in users))
        latencies: list[float] = []

        async def citizen(user: str) -> None:
            for n in range(ANSWERS_PER_CITIZEN):
                started = time.perf_counter()
                await service.handle(message(user, 10 + n, f"idée {n} de {user}"))
                latencies.append(time.perf_counter() - started)

        start = time.perf_counter()
        await asyncio.gather(*(citizen(u) for u in users))
        elapsed = time.perf_counter() - start
        async with store.transaction() as tx:
            campaign = await tx.campaign_by_slug("bench")
            assert campaign is not None
            stored = len(await tx.campaign_items(campaign.id))
    finally:
        await store.close()
    answers = citizens * ANSWERS_PER_CITIZEN
    assert stored == answers, f"{stored} items stored for {answers} answers"
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "citizens": citizens,
        "answers": answers,
        "answers_per_s": round(answers / elapsed, 1),
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


async def main() -> dict[str, Any]:
    result: dict[str, Any] = {"machine": f"{os.cpu_count()} cores, {os.uname().machine}"}
    with tempfile.TemporaryDirectory() as tmp:
        raw = raw_sqlite_rate(Path(tmp) / "raw.db")
        result["sqlite3 INSERT+COMMIT loop"] = {"rows_per_s": round(raw)}
        for citizens in SCENARIOS:
            url = f"sqlite:///{Path(tmp) / f'bench-{citizens}.db'}"
            figures = await ingest(url, citizens)
            figures["ratio_to_sqlite3_loop"] = round(figures["answers_per_s"] / raw, 3)
            result[f"sqlite, {citizens} citizens"] = figures
    server = os.environ.get("QN_BOT_TEST_POSTGRES_URL")
    if server:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine

        admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
        for citizens in SCENARIOS:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            result[f"postgresql, {citizens} citizens"] = await ingest(url, citizens)
        await admin.dispose()
    result["target"] = "≥ 5,000 answers/s on SQLite; p99 ≤ 50 ms at 1,000 citizens"
    return result
