"""Two `qn-bot run` processes on one PostgreSQL database, one Telegram bot.

Polling: one process holds the bot's polling role (an advisory lock), both send. The holder is
killed with SIGKILL in the middle of a load; the other takes polling over from the journal the
dead one left, every citizen finishes, every answer is stored once and no reply is delivered
twice — except, at most once per chat, a reply the dead process was sending when it died
(delivery is at least once: it had sent it but not yet recorded it as sent).

Webhook: both processes serve the webhook behind a small round-robin "load balancer"; every
update is handled once, even one that reaches both processes at the same time.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from qn_bot.adapters.telegram.receiving import SECRET_HEADER, default_webhook_secret
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import POSTGRES_ENV, PostgresDatabases
from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG, QnBot
from tests.integration.telegram.harness import BotHub, Citizen, Emulator, free_port, new_token
from tests.integration.telegram.test_process import BotProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} not set"),
]

HOLDS = re.compile(r"now holds the role telegram:")
CITIZENS = 16
ITEMS = 6
#: How long a citizen may wait for a reply once the poller was killed: the survivor takes
#: polling over and releases the dead process's outbox leases (its liveness lock is free)
#: within seconds, not after the 60 s lease.
AFTER_KILL = 30.0


@pytest.fixture
async def postgres_url(postgres_databases: PostgresDatabases | None) -> AsyncIterator[str]:
    assert postgres_databases is not None
    name = await postgres_databases.take(migrated=False)
    try:
        yield postgres_databases.url(name)
    finally:
        postgres_databases.drop(name)


def write_config(directory: Path, name: str, url: str, telegram: str) -> Path:
    config = directory / name
    config.write_text(f'[database]\nurl = "{url}"\n\n[telegram]\n{telegram}', encoding="utf-8")
    return config


async def wait_for_log(process: BotProcess, pattern: re.Pattern[str], within: float) -> None:
    async with asyncio.timeout(within):
        while not pattern.search(process.output()):
            assert process.proc.poll() is None, process.output()
            await asyncio.sleep(0.1)


async def query(url: str, sql: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def sent_rows_per_chat(url: str) -> Counter[int]:
    rows = await query(
        url,
        "SELECT chat_id, count(*) FROM outbox"
        " WHERE platform = 'telegram' AND status = 'sent' GROUP BY chat_id",
    )
    return Counter({int(chat): int(n) for chat, n in rows})


async def unfinished_rows(url: str) -> list[Any]:
    return await query(
        url, "SELECT id, chat_id, status FROM outbox WHERE status <> 'sent' ORDER BY id"
    )


def item(citizen: int, n: int) -> str:
    return f"Idée {n} du citoyen {citizen}"


async def take_part(number: int, citizen: Citizen, acks: list[int], within: float) -> None:
    """Consent, then ITEMS answers one after the other (each waits for its acknowledgement)."""
    await citizen.send(f"/start {SLUG}", CONSENT_QUESTION, within=within)
    await citizen.press("J’accepte")
    await citizen.expect(prompt("pourquoi"), within=within)
    for n in range(1, ITEMS + 1):
        await citizen.send(item(number, n), f"({n} au total)", within=within)
        acks.append(number)
    await citizen.press("Suivant")
    await citizen.expect(prompt("meurt"), within=within)


def assert_answers_stored_once(rows: list[dict[str, Any]]) -> None:
    by_participant: dict[str, list[str]] = {}
    for row in rows:
        assert row["step"] == "pourquoi", row
        by_participant.setdefault(row["participant"], []).append(row["text"])
    expected = {tuple(item(c, n) for n in range(1, ITEMS + 1)) for c in range(CITIZENS)}
    assert {tuple(texts) for texts in by_participant.values()} == expected
    assert len(by_participant) == CITIZENS


async def test_sigkill_the_poller_mid_load_the_other_process_takes_over(
    emulator: Emulator, tmp_path: Path, postgres_url: str
) -> None:
    token = new_token()
    config = write_config(
        tmp_path, "qn_bot.toml", postgres_url, f'base_url = "{emulator.url}/bot"\n'
    )
    async with BotHub(emulator.url, token) as hub:
        first = BotProcess(tmp_path, config, token, 1)
        second: BotProcess | None = None
        try:
            # The first applies the migrations and creates the campaign (not safe to do twice
            # at once on an empty database); the second starts once it polls.
            await wait_for_log(first, HOLDS, within=30)
            second = BotProcess(tmp_path, config, token, 2)
            await wait_for_log(second, re.compile("held by another process"), within=30)
            holder, survivor = first, second

            citizens = [hub.citizen() for _ in range(CITIZENS)]
            acks: list[int] = []
            load = [
                asyncio.create_task(take_part(n, c, acks, within=AFTER_KILL))
                for n, c in enumerate(citizens)
            ]
            async with asyncio.timeout(60):
                while len(acks) < CITIZENS * ITEMS // 3:
                    assert not any(t.done() and t.exception() for t in load)
                    await asyncio.sleep(0.05)
            holder.kill()
            # What the dead process may have sent without recording it: its leased rows.
            in_flight = {
                int(chat)
                for (chat,) in await query(
                    postgres_url,
                    "SELECT chat_id FROM outbox WHERE status = 'pending'"
                    " AND locked_until IS NOT NULL AND locked_until > now()",
                )
            }
            acks_at_kill = len(acks)
            killed_at = time.monotonic()
            await wait_for_log(survivor, HOLDS, within=10)  # took polling over
            took_over = time.monotonic() - killed_at
            await asyncio.gather(*load)
            finished = time.monotonic() - killed_at
            assert len(acks) == CITIZENS * ITEMS > acks_at_kill
            await asyncio.sleep(1.5)  # anything still on its way (a duplicate) arrives
            assert survivor.stop() == 0, survivor.output()
        finally:
            first.stop()
            if second is not None:
                second.stop()

    rows = await asyncio.to_thread(QnBot(tmp_path, config).export_json)
    assert_answers_stored_once(rows)
    assert await unfinished_rows(postgres_url) == []
    sent = await sent_rows_per_chat(postgres_url)
    received = {c.chat_id: len(c.history) for c in citizens}
    for chat, count in received.items():
        # One Telegram message per outbox row (short texts); a duplicate only for a row the
        # killed process had in hand.
        allowed = {sent[chat], sent[chat] + 1} if chat in in_flight else {sent[chat]}
        assert count in allowed, (chat, count, sent[chat], in_flight)
    assert "Traceback" not in first.output() + second.output()
    duplicates = sum(n - sent[chat] for chat, n in received.items())
    print(
        f"killed after {acks_at_kill} of {CITIZENS * ITEMS} answers; polling taken over in"
        f" {took_over:.1f} s; all done {finished:.1f} s after the kill; {len(in_flight)} chats"
        f" had a reply in flight, {duplicates} delivered twice"
    )


class RoundRobin:
    """A load balancer in front of the two processes' webhooks; every ``both``-th update is sent
    to both at the same time (a retry landing on another instance while the first still works)."""

    def __init__(self, backends: list[str], both: int = 4) -> None:
        self.backends = backends
        self.both = both
        self.port = free_port()
        self.forwarded: Counter[str] = Counter()
        self._turn = itertools.count()
        self._client = httpx.AsyncClient(timeout=60)
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> RoundRobin:
        app = web.Application()
        app.router.add_post("/hook", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._client.aclose()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {
            "Content-Type": "application/json",
            SECRET_HEADER: request.headers.get(SECRET_HEADER, ""),
        }
        turn = next(self._turn)
        targets = self.backends if turn % self.both == 0 else [self.backends[turn % 2]]

        async def post(url: str) -> int:
            try:
                response = await self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                return 502
            self.forwarded[url] += 1
            return response.status_code

        statuses = await asyncio.gather(*(post(url) for url in targets))
        return web.Response(status=min(statuses))


@pytest.mark.timeout(180)
async def test_every_process_serves_the_webhook_and_each_update_is_handled_once(
    emulator: Emulator, tmp_path: Path, postgres_url: str
) -> None:
    token = new_token()
    ports = [free_port(), free_port()]
    backends = [f"http://127.0.0.1:{port}/hook" for port in ports]
    async with RoundRobin(backends) as balancer, BotHub(emulator.url, token) as hub:
        public = f"http://127.0.0.1:{balancer.port}/hook"
        configs = [
            write_config(
                tmp_path,
                f"qn_bot-{n}.toml",
                postgres_url,
                f'base_url = "{emulator.url}/bot"\nmode = "webhook"\n'
                f'webhook_url = "{public}"\nlisten = "127.0.0.1"\nport = {port}\n',
            )
            for n, port in enumerate(ports)
        ]
        processes: list[BotProcess] = []
        try:
            listening = re.compile("Telegram webhook listening")
            for n, config in enumerate(configs):
                processes.append(BotProcess(tmp_path, config, token, n + 1))
                await wait_for_log(processes[-1], listening, within=30)
            state = await hub.state()
            assert state["webhook"] == {"url": public, "has_secret": True}

            citizens = [hub.citizen() for _ in range(6)]
            acks: list[int] = []
            await asyncio.gather(
                *(take_part(n, c, acks, within=20) for n, c in enumerate(citizens))
            )
            await asyncio.sleep(1.0)
            async with httpx.AsyncClient() as client:
                forged = await client.post(backends[1], json={"update_id": 1})
            assert forged.status_code == 403  # the secret is still required
            for process in processes:
                assert process.stop() == 0, process.output()
        finally:
            for process in processes:
                process.stop()

        # Both processes served updates, with the secret derived from the token (none is
        # configured: each would otherwise have made its own and refused the other's).
        assert all(balancer.forwarded[url] > 0 for url in backends), balancer.forwarded

    rows = await asyncio.to_thread(QnBot(tmp_path, configs[0]).export_json)
    by_participant: dict[str, list[str]] = {}
    for row in rows:
        by_participant.setdefault(row["participant"], []).append(row["text"])
    assert sorted(map(tuple, by_participant.values())) == sorted(
        tuple(item(c, n) for n in range(1, ITEMS + 1)) for c in range(len(citizens))
    )
    sent = await sent_rows_per_chat(postgres_url)
    assert {c.chat_id: len(c.history) for c in citizens} == {
        c.chat_id: sent[c.chat_id] for c in citizens
    }
    assert await unfinished_rows(postgres_url) == []
    logs = "".join(p.output() for p in processes)
    assert "failed to handle a message" not in logs
    assert "Traceback" not in logs
    assert default_webhook_secret(token) not in logs
    assert token not in logs
