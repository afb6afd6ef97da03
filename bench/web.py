"""1,000 web citizens without a browser (issue 17 item 6): aiohttp clients on loopback, each
with its own cookie, answering through a real `qn-bot run`'s web adapter at the ingestion
benchmark's paced rate (bench/ingestion.py: 1,000 citizens, 10 answers each, exponential pauses
of mean 0.5 s). A reply's latency is from the post to the bot's reply arriving on the citizen's
event stream (Server-Sent Events) — the whole path: HTTP, the transaction, the outbox, the
transcript, the stream. Targets: every item stored once, p99 ≤ 100 ms."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.ingestion import PACED_ANSWERS, PACED_CITIZENS, PACED_MEAN_PAUSE
from tests.integration.web.browser import start_web_process

SLUG = "construire-2030"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
TARGET_P99_MS = 100.0
#: A reply later than this is counted as late (and that citizen stops answering).
REPLY_TIMEOUT = 60.0


class WebCitizen:
    def __init__(self, base: str, n: int) -> None:
        self.base = base
        self.n = n
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        )
        self.csrf = ""
        self.replies: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        async with self.session.get(f"{self.base}/c/{SLUG}") as response:
            found = CSRF.search(await response.text())
            assert found is not None
            self.csrf = found.group(1)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async with self.session.get(f"{self.base}/c/{SLUG}/events") as response:
            async for line in response.content:
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event["role"] == "bot":
                        self.replies.put_nowait((time.perf_counter(), event))

    async def post(self, text: str) -> None:
        data = {"csrf": self.csrf, "client_id": str(uuid.uuid4()), "lang": "fr", "text": text}
        async with self.session.post(
            f"{self.base}/c/{SLUG}/send", data=data, headers={"Accept": "application/json"}
        ) as response:
            assert response.status == 200, response.status

    async def reply(self, needle: str) -> float:
        """When the next bot message containing ``needle`` arrived."""
        while True:
            at, event = await asyncio.wait_for(self.replies.get(), REPLY_TIMEOUT)
            if needle in event["text"]:
                return at

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await self.session.close()


async def run(citizens: int, answers_each: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_web_process(Path(tmp), per_ip=0)
        running = next(server)
        try:
            people = [WebCitizen(running.base, n) for n in range(citizens)]
            await asyncio.gather(*(p.open() for p in people))
            # Start and consent first (not measured), as the ingestion benchmark does.
            for person in people:
                await person.post(f"/start {SLUG}")
            await asyncio.gather(*(p.reply("Acceptez") for p in people))
            for person in people:
                await person.post("1")
            await asyncio.gather(*(p.reply("?") for p in people))
            rng = random.Random(citizens)
            latencies: list[float] = []
            late = 0

            async def answer(person: WebCitizen) -> None:
                nonlocal late
                for n in range(answers_each):
                    await asyncio.sleep(rng.expovariate(1 / PACED_MEAN_PAUSE))
                    started = time.perf_counter()
                    await person.post(f"idée {n} de {person.n}")
                    try:
                        latencies.append(await person.reply(f"({n + 1} au total)") - started)
                    except TimeoutError:
                        # Counted, not fatal: an overloaded run still gives its figures.
                        late += 1
                        latencies.append(REPLY_TIMEOUT)
                        return

            load = os.getloadavg()[0]
            cpu = _cpu_seconds(running.process.pid)
            start = time.perf_counter()
            await asyncio.gather(*(answer(p) for p in people))
            elapsed = time.perf_counter() - start
            cpu = _cpu_seconds(running.process.pid) - cpu
            await asyncio.gather(*(p.close() for p in people))
        finally:
            server.close()
        with sqlite3.connect(Path(tmp) / "web.db") as db:
            stored = db.execute("SELECT count(*) FROM items").fetchone()[0]
    answers = citizens * answers_each
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "citizens": citizens,
        "load": f"paced, mean pause {PACED_MEAN_PAUSE} s",
        "answers": answers,
        "items_stored": stored,
        "replies_later_than_60_s": late,
        "answers_per_s": round(answers / elapsed, 1),
        "server_cpu_ms_per_answer": round(cpu / answers * 1000, 2),
        "load_average": f"{load:.1f} → {os.getloadavg()[0]:.1f}",
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p95_ms": round(quantiles[94] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the bot's process so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main() -> dict[str, Any]:
    citizens = int(sys.argv[2]) if len(sys.argv) > 2 else PACED_CITIZENS
    result = await run(citizens, PACED_ANSWERS)
    figures = {f"sqlite, {citizens} web citizens, paced": result}
    return {
        **figures,
        "passed": result["items_stored"] == result["answers"]
        and result["replies_later_than_60_s"] == 0
        and result["p99_ms"] <= TARGET_P99_MS,
    }
