"""Opinion map and votes (issue 15): recomputing the groups of a large campaign, and votes
ingested through group commit's batched write.

Recompute. Set-up (not measured): a database built by the real migrations with one campaign of
BENCH_OPINION_STATEMENTS statements (items of 200 authors), BENCH_OPINION_VOTERS voters and
BENCH_OPINION_VOTES votes (each voter votes on the same number of random statements; three
camps of 50 / 30 / 20 % with their own view of each statement), bulk-inserted. Measured in a
fresh process, so that its peak RSS is only this work's: `compute_campaign_opinions` — the
store read on one snapshot, the computation, the groups saved —, run twice (the second starts
from the first's groups, as every later run does). Seconds are from the store read to the
result; peak RSS is the process's (ru_maxrss, imports included), and the figure before the
read is given too. On SQLite and, when QN_BOT_TEST_POSTGRES_URL is set, PostgreSQL.

Ingest. BENCH_OPINION_INGEST votes by 10,000 voters, in group commit's shape: per transaction
BATCH votes, each with its message key checked and claimed, the vote written and its reply (the
next card) queued, all through :class:`qn_bot.store.batch.BatchWrites` (one statement per
table). SQLite, durable commits (synchronous=FULL, the store's setting).

Targets (issue 15): recompute ≤ 2 s and ≤ 500 MB for 10,000 participants, 2,000 statements and
500,000 votes; ≥ 5,000 votes/s durable on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from qn_bot.domain import Address, CampaignStatus, OutboundMessage
from qn_bot.records import Vote
from qn_bot.store import schema as t
from qn_bot.store.batch import BatchWrites
from qn_bot.store.migrate import upgrade
from qn_bot.store.sql import Store

VOTERS = int(os.environ.get("BENCH_OPINION_VOTERS", "10000"))
STATEMENTS = int(os.environ.get("BENCH_OPINION_STATEMENTS", "2000"))
VOTES = int(os.environ.get("BENCH_OPINION_VOTES", "500000"))
INGEST = int(os.environ.get("BENCH_OPINION_INGEST", "50000"))
BATCHES = (100, 500)
AUTHORS = 200
CHUNK = 20_000
NOW = datetime(2026, 1, 15, tzinfo=UTC)
FLOW = """
id = "bench"
version = 1
languages = ["fr"]
title = "Bench"

[[steps]]
id = "idees"
kind = "list"
prompt = "Vos idées ?"
"""
TARGET_S = 2.0
TARGET_MB = 500.0
TARGET_VOTES_PER_S = 5000


def _rows(table: t.Table, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[n : n + CHUNK] for n in range(0, len(rows), CHUNK)]


async def build(url: str, *, votes: int) -> tuple[int, list[int], list[int]]:
    """The campaign, its statements and voters (and ``votes`` planted votes); returns the
    campaign id, the item ids and the voters' participant ids."""
    await upgrade(url)
    rng = np.random.default_rng(7)
    async with Store.from_url(url) as store:
        async with store.transaction() as tx:
            campaign = await tx.campaigns.create_campaign(
                slug="bench",
                title="Bench",
                flow_id="bench",
                flow_version=1,
                flow_source=FLOW,
                now=NOW,
                status=CampaignStatus.OPEN,
            )
            people = [
                {
                    "platform": "bench",
                    "platform_user_id": str(n),
                    "pseudonym": f"P-{n:08d}",
                    "reply_chat_id": str(n),
                    "stopped": False,
                    "unreachable": False,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(AUTHORS + VOTERS)
            ]
            for chunk in _rows(t.participants, people):
                await tx.conn.execute(insert(t.participants), chunk)
            ids = [
                int(i)
                for i in (
                    await tx.conn.execute(
                        t.participants.select()
                        .with_only_columns(t.participants.c.id)
                        .order_by(t.participants.c.id)
                    )
                ).scalars()
            ]
            authors, voters = ids[:AUTHORS], ids[AUTHORS:]
            sessions = [
                {
                    "participant_id": a,
                    "campaign_id": campaign.id,
                    "state": {},
                    "status": "completed",
                    "reminders_sent": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for a in authors
            ]
            await tx.conn.execute(insert(t.sessions), sessions)
            session_of = {
                int(p): int(s)
                for s, p in await tx.conn.execute(
                    t.sessions.select().with_only_columns(
                        t.sessions.c.id, t.sessions.c.participant_id
                    )
                )
            }
            per_author = STATEMENTS // AUTHORS
            items = [
                {
                    "session_id": session_of[authors[n // per_author]],
                    "campaign_id": campaign.id,
                    "participant_id": authors[n // per_author],
                    "seq": n % per_author + 1,
                    "step_id": "idees",
                    "text": f"Énoncé numéro {n} : une idée de bonne longueur pour la ville",
                    "value": None,
                    "revision": 1,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(STATEMENTS)
            ]
            await tx.conn.execute(insert(t.items), items)
            item_ids = [
                int(i)
                for i in (
                    await tx.conn.execute(
                        t.items.select().with_only_columns(t.items.c.id).order_by(t.items.c.id)
                    )
                ).scalars()
            ]
        if votes:
            camps = rng.choice(3, size=VOTERS, p=[0.5, 0.3, 0.2])
            # each camp's probability of agreeing with each statement
            views = rng.choice([0.1, 0.5, 0.9], size=(3, STATEMENTS))
            per_voter = votes // VOTERS
            for start in range(0, VOTERS, 1000):
                rows = []
                for v in range(start, min(start + 1000, VOTERS)):
                    seen = rng.choice(STATEMENTS, per_voter, replace=False)
                    draw = rng.random(per_voter)
                    agree = views[camps[v], seen]
                    values = np.where(draw < agree, 1, np.where(draw < agree + 0.1, 0, -1))
                    rows += [
                        {
                            "participant_id": voters[v],
                            "item_id": item_ids[s],
                            "campaign_id": campaign.id,
                            "value": int(value),
                            "created_at": NOW,
                            "updated_at": NOW,
                        }
                        for s, value in zip(seen.tolist(), values.tolist(), strict=True)
                    ]
                async with store.transaction() as tx:
                    for chunk in _rows(t.votes, rows):
                        await tx.conn.execute(insert(t.votes), chunk)
    return campaign.id, item_ids, voters


async def measure(url: str) -> dict[str, Any]:
    """In a fresh process: two recomputations of the campaign's groups."""
    from qn_bot.opinion_map import compute_campaign_opinions  # numpy, scikit-learn loaded

    figures: dict[str, Any] = {}
    async with Store.from_url(url) as store:
        async with store.snapshot() as tx:
            campaign = await tx.campaigns.campaign_by_slug("bench")
        assert campaign is not None
        figures["rss_before_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
        stamps: list[tuple[str, float]] = []

        def mark(step: str) -> None:
            stamps.append((step.split(":")[0], time.perf_counter()))

        for run in ("first", "second"):
            stamps.clear()
            start = time.perf_counter()
            result = await compute_campaign_opinions(
                store,
                campaign,
                NOW,
                progress=mark,
            )
            total = time.perf_counter() - start
            marks = [start] + [s for _, s in stamps] + [start + total]
            names = [name for name, _ in stamps]
            phases = {
                f"{n}_s": round(b - a, 3)
                for n, a, b in zip(names, marks[1:-1], marks[2:], strict=True)
            }
            figures[run] = {
                "seconds": round(total, 3),
                **phases,
                "participants_counted": result.participants_counted,
                "groups": [g.size for g in result.groups],
                "consensus": len(result.consensus),
            }
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures


def recompute_in_fresh_process(url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.opinions", "--measure", url],
        capture_output=True,
        check=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


async def ingest(url: str, batch: int) -> dict[str, Any]:
    campaign_id, item_ids, voters = await build(url, votes=0)
    rng = np.random.default_rng(3)
    cards = rng.integers(0, len(item_ids), size=INGEST)
    who = rng.integers(0, len(voters), size=INGEST)
    values = [Vote.AGREE, Vote.DISAGREE, Vote.PASS]
    async with Store.from_url(url) as store:
        start = time.perf_counter()
        for first in range(0, INGEST, batch):
            span = range(first, min(first + batch, INGEST))
            async with store.transaction() as tx:
                keys = [("bench", f"vote-{n}") for n in span]
                seen = await tx.idempotency.already_claimed(keys)
                writes = BatchWrites()
                for n in span:
                    if ("bench", f"vote-{n}") in seen:
                        continue
                    voter = voters[int(who[n])]
                    await writes.claim_message("bench", f"vote-{n}", NOW, voter)
                    await writes.record_vote(
                        participant_id=voter,
                        item_id=item_ids[int(cards[n])],
                        campaign_id=campaign_id,
                        value=values[n % 3],
                        now=NOW,
                    )
                    await writes.enqueue(
                        Address("bench", str(voter)),
                        OutboundMessage("Carte suivante"),
                        NOW,
                        participant_id=voter,
                    )
                await writes.flush(tx)
        seconds = time.perf_counter() - start
    return {
        "votes": INGEST,
        "batch": batch,
        "seconds": round(seconds, 2),
        "votes_per_s": round(INGEST / seconds),
    }


async def main() -> dict[str, Any]:
    result: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}",
        "load_average": os.getloadavg()[0],
        "size": f"{VOTERS} voters, {STATEMENTS} statements, {VOTES} votes",
    }
    urls: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        urls.append(("sqlite", f"sqlite:///{Path(tmp) / 'opinions.db'}"))
        server = os.environ.get("QN_BOT_TEST_POSTGRES_URL")
        admin = None
        if server:
            from sqlalchemy import text
            from sqlalchemy.engine import make_url
            from sqlalchemy.ext.asyncio import create_async_engine

            admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
            database = f"bench_opinions_{uuid.uuid4().hex[:8]}"
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{database}"'))
            urls.append(
                (
                    "postgresql",
                    make_url(server).set(database=database).render_as_string(hide_password=False),
                )
            )
        for name, url in urls:
            await build(url, votes=VOTES)
            result[f"recompute, {name}"] = recompute_in_fresh_process(url)
        for batch in BATCHES:
            url = f"sqlite:///{Path(tmp) / f'ingest-{batch}.db'}"
            result[f"ingest, sqlite, batch {batch}"] = await ingest(url, batch)
        if admin is not None:
            await admin.dispose()
    recomputes = [v for k, v in result.items() if k.startswith("recompute")]
    slowest = max(r[run]["seconds"] for r in recomputes for run in ("first", "second"))
    heaviest = max(r["peak_rss_mb"] for r in recomputes)
    ingest_rate = min(v["votes_per_s"] for k, v in result.items() if k.startswith("ingest"))
    result["target"] = "recompute ≤ 2 s and ≤ 500 MB; ≥ 5,000 votes/s durable on SQLite"
    result["passed"] = (
        slowest <= TARGET_S and heaviest <= TARGET_MB and ingest_rate >= TARGET_VOTES_PER_S
    )
    return result


if __name__ == "__main__" and sys.argv[1:2] == ["--measure"]:
    print(json.dumps(asyncio.run(measure(sys.argv[2]))))
