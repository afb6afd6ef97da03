"""Memory with 100,000 citizens mid-flow: the bot's peak RSS while it reminds them all.

Set-up (not measured): a SQLite database built by the real migrations, one citizen taken by the
real `Service` to the middle of Construire 2030 (consent, two ideas, /suivant, one more idea),
then that citizen's participant, session and item rows copied in bulk (executemany through
qn_bot/store/schema.py) for every other citizen — same session state JSON, each with its own id
and pseudonym, last message 25 hours ago, so the first reminder (24 h) is due.

Measured, in a fresh process so the figure is only the bot's: the real `Application` with an
in-process adapter (platform "bench", paced like Telegram at BENCH_MEMORY_RATE messages/s),
the scheduler's reminder pass over everybody (`Scheduler.tick_reminders`), then BENCH_ANSWERS
citizens sending one more idea each through the adapter (32 chats at a time, as the Telegram
adapter handles them; at most BENCH_ANSWER_BUDGET_S seconds) while the outbox worker sends.
Peak RSS is ru_maxrss of that process.
BENCH_TRACEMALLOC=1 prints the biggest allocations of the reminder pass to stderr (slower).

Target (issue "PostgreSQL, several bot processes, and benchmarks"): ≤ 200 MB RSS with 100,000
citizens mid-flow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from qn_bot.campaigns import create_campaign, set_status
from qn_bot.domain import Address, CampaignStatus, Envelope, InboundKind, InboundMessage, UserRef
from qn_bot.flows.loader import resolve_flow
from qn_bot.ports import Adapter, Capabilities, InboundSink
from qn_bot.service import Service
from qn_bot.store import schema as t
from qn_bot.store.migrate import upgrade
from qn_bot.store.sql import Store

CITIZENS = int(os.environ.get("BENCH_CITIZENS", "100000"))
ANSWERS = int(os.environ.get("BENCH_ANSWERS", "10000"))
RATE = float(os.environ.get("BENCH_MEMORY_RATE", "30"))  # outbox pace, messages/s (Telegram's)
# The answers stop after this long (the figure says how many got in): when the outbox worker
# chokes on a backlog, 10,000 answers could take hours.
ANSWER_BUDGET_S = float(os.environ.get("BENCH_ANSWER_BUDGET_S", "600"))
CONCURRENT_CHATS = 32
PLATFORM = "bench"
SLUG = "construire-2030"
SEED_SCRIPT = ("/start construire-2030", "1", "idée a", "idée b", "/suivant", "idée c")
CHUNK = 5000
TARGET_MB = 200.0


def message(user: str, n: int, text: str) -> InboundMessage:
    return InboundMessage(
        sender=UserRef(PLATFORM, user),
        address=Address(PLATFORM, user),
        message_id=f"{user}:{n}",
        kind=InboundKind.TEXT,
        text=text,
    )


def rss_mb() -> float:
    """Resident set size now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------------------------- set-up


async def populate(url: str, citizens: int) -> dict[str, Any]:
    """The database: one citizen taken mid-flow by the real Service, copied ``citizens`` times."""
    await upgrade(url)
    store = Store.from_url(url)
    started = time.perf_counter()
    try:
        now = dt.datetime.now(dt.UTC)
        async with store.transaction() as tx:
            await create_campaign(tx, slug=SLUG, flow=resolve_flow(SLUG), title="Bench", now=now)
            await set_status(tx, SLUG, CampaignStatus.OPEN, now)
        service = Service(store)
        for n, text in enumerate(SEED_SCRIPT):
            await service.handle(message("seed", n, text))
        async with store.transaction() as tx:
            conn = tx.conn
            participant = dict((await conn.execute(select(t.participants))).one()._mapping)
            session = dict((await conn.execute(select(t.sessions))).one()._mapping)
            items = [dict(r._mapping) for r in (await conn.execute(select(t.items))).all()]
            # Start again from the template rows only (the seed's outbox and keys are not copied).
            for table in (t.items, t.processed_messages, t.outbox, t.sessions, t.participants):
                await conn.execute(table.delete())
        assert session["status"] == "active", session
        assert session["state"]["mode"] == "ask", session
        idle_since = now - dt.timedelta(hours=25)  # the first reminder (24 h) is due
        for first in range(0, citizens, CHUNK):
            ids = range(first + 1, min(citizens, first + CHUNK) + 1)
            async with store.transaction() as tx:
                await tx.conn.execute(
                    insert(t.participants),
                    [
                        participant
                        | {
                            "id": i,
                            "platform": PLATFORM,
                            "platform_user_id": f"c{i}",
                            "reply_chat_id": f"c{i}",
                            "pseudonym": f"P-{i:08X}",
                            "created_at": idle_since,
                            "updated_at": idle_since,
                        }
                        for i in ids
                    ],
                )
                await tx.conn.execute(
                    insert(t.sessions),
                    [
                        session
                        | {
                            "id": i,
                            "participant_id": i,
                            "last_input_at": idle_since,
                            "updated_at": idle_since,
                            "created_at": idle_since,
                            "consent_at": idle_since,
                        }
                        for i in ids
                    ],
                )
                await tx.conn.execute(
                    insert(t.items),
                    [
                        {k: v for k, v in item.items() if k != "id"}
                        | {
                            "session_id": i,
                            "participant_id": i,
                            "created_at": idle_since,
                            "updated_at": idle_since,
                            "source_message_id": None,
                        }
                        for i in ids
                        for item in items
                    ],
                )
    finally:
        await store.close()
    return {
        "citizens": citizens,
        "state_json_bytes": len(json.dumps(session["state"])),
        "items_per_citizen": len(items),
        "step": session["step_id"],
        "set_up_s": round(time.perf_counter() - started, 1),
    }


# ---------------------------------------------------------------------------------- bot process


class BenchAdapter(Adapter):
    """An in-process platform: sends are counted, not kept (keeping them would be our memory)."""

    platform = PLATFORM

    def __init__(self, rate: float) -> None:
        self.capabilities = Capabilities(buttons=True, messages_per_second=rate)
        self.sent = 0
        self.sink: InboundSink | None = None

    async def start(self, sink: InboundSink) -> None:
        self.sink = sink

    async def stop(self) -> None:
        self.sink = None

    async def send(self, envelope: Envelope) -> None:
        self.sent += 1


async def bot(url: str, answering: Sequence[int]) -> dict[str, Any]:
    """The measured part; runs in its own process (`python -m bench.memory serve URL`)."""
    from qn_bot.app import Application
    from qn_bot.config import Config

    config = Config.model_validate(
        {
            "database": {"url": url},
            # Quiet hours off (the run may fall at night) and no timed pass of its own: the
            # benchmark runs the scheduler's pass itself.
            "reminders": {
                "quiet_start": dt.time(0, 0),
                "quiet_end": dt.time(0, 0),
                "check_every_seconds": 86400,
            },
        }
    )
    adapter = BenchAdapter(RATE)
    figures: dict[str, Any] = {"rss_before_start_mb": rss_mb()}
    trace = bool(os.environ.get("BENCH_TRACEMALLOC"))
    if trace:
        import tracemalloc

        tracemalloc.start()
    async with Application(config, adapters=[adapter]) as app:
        figures["rss_started_mb"] = rss_mb()
        started = time.perf_counter()
        queued = await app.scheduler.tick_reminders()
        figures["reminder_pass_s"] = round(time.perf_counter() - started, 1)
        figures["reminders_queued"] = queued
        figures["rss_after_reminder_pass_mb"] = rss_mb()
        figures["peak_rss_after_reminder_pass_mb"] = peak_rss_mb()
        print(f"after the reminder pass: {figures}", file=sys.stderr, flush=True)
        if trace:
            figures["traced_peak_of_reminder_pass_mb"] = round(
                tracemalloc.get_traced_memory()[1] / 2**20, 1
            )
            biggest("after the reminder pass")
        app.worker.notify()
        assert adapter.sink is not None
        sink = adapter.sink
        slots = asyncio.Semaphore(CONCURRENT_CHATS)

        answered = 0
        started = time.perf_counter()
        deadline = started + ANSWER_BUDGET_S

        async def answer(i: int) -> None:
            nonlocal answered
            async with slots:
                if time.perf_counter() < deadline:
                    await sink(message(f"c{i}", 100, f"idée d de c{i}"))
                    answered += 1

        await asyncio.gather(*(answer(i) for i in answering))
        elapsed = time.perf_counter() - started
        figures["answers_asked"] = len(answering)
        figures["answers"] = answered
        figures["answers_s"] = round(elapsed, 1)
        figures["answers_per_s"] = round(answered / elapsed, 1) if answering else 0.0
        figures["messages_sent_meanwhile"] = adapter.sent
        figures["rss_after_answers_mb"] = rss_mb()
        if trace:
            biggest("after the answers")
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


def biggest(when: str, count: int = 12) -> None:
    """The allocations alive now that take the most memory (BENCH_TRACEMALLOC=1), to stderr."""
    import tracemalloc

    print(f"--- tracemalloc, {when}", file=sys.stderr)
    for stat in tracemalloc.take_snapshot().statistics("lineno")[:count]:
        print(stat, file=sys.stderr)


def serve(url: str, answers: int, citizens: int) -> None:
    step = max(1, citizens // answers) if answers else 1
    answering = list(range(1, citizens + 1, step))[:answers]
    print(json.dumps(asyncio.run(bot(url, answering))), flush=True)


# ---------------------------------------------------------------------------------- driver


async def check_stored(url: str, answers: int) -> dict[str, Any]:
    from sqlalchemy import func

    async with Store.from_url(url) as store, store.transaction() as tx:
        conn = tx.conn
        items = (await conn.execute(select(func.count()).select_from(t.items))).scalar_one()
        outbox = (await conn.execute(select(func.count()).select_from(t.outbox))).scalar_one()
    return {"items_stored": items, "outbox_rows": outbox}


async def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qn-bench-memory-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'memory.db'}"
        result: dict[str, Any] = {"set-up": await populate(url, CITIZENS)}
        result["set-up"]["db_mb"] = round((Path(tmp) / "memory.db").stat().st_size / 2**20, 1)
        load = os.getloadavg()
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bench.memory", "serve", url, str(ANSWERS), str(CITIZENS)],
            stdout=subprocess.PIPE,  # figures; the bot's log and progress go to our stderr
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError("bot process failed (its log is above)")
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
        figures |= await check_stored(url, ANSWERS)
        figures["load_average"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        result["bot process"] = figures
    result["target"] = f"≤ {TARGET_MB:.0f} MB RSS with 100,000 citizens mid-flow"
    if CITIZENS >= 100_000:
        result["passed"] = figures["peak_rss_mb"] <= TARGET_MB
    return result


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        print(json.dumps(asyncio.run(main()), indent=2))
