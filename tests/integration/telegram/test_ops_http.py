"""`[http]`: /healthz and /metrics of a real `qn-bot run` on the Telegram emulator, scraped
while citizens answer (issue 16 item 1)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG
from tests.integration.telegram.harness import BotHub, Citizen, Emulator, free_port, new_token
from tests.integration.telegram.test_operations import sqlite_config
from tests.integration.telegram.test_process import BotProcess, wait_until

pytestmark = pytest.mark.integration

CITIZENS = 6
ITEMS = 4


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series of a Prometheus text exposition, None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
        if found == wanted:
            return float(match.group(3))
    return None


async def answer(citizen: Citizen, n: int) -> None:
    await citizen.send(f"/start {SLUG}", CONSENT_QUESTION, within=60)
    await citizen.press("J’accepte")
    await citizen.expect(prompt("pourquoi"), within=60)
    for i in range(1, ITEMS + 1):
        await citizen.send(f"Idée {i} du citoyen {n}", f"({i} au total)", within=60)


async def test_healthz_and_metrics_of_a_running_bot_under_load(
    emulator: Emulator, tmp_path: Path
) -> None:
    token = new_token()
    port = free_port()
    config = sqlite_config(
        tmp_path,
        f"{emulator.url}/bot",
        "messages_per_second = 1000\nchat_messages_per_second = 100\nchat_burst = 100\n"
        f"\n[limits]\nmessages_per_window = 1000\n\n[http]\nport = {port}\n",
    )
    base = f"http://127.0.0.1:{port}"
    async with BotHub(emulator.url, token) as hub, httpx.AsyncClient(timeout=10) as http:
        bot = BotProcess(tmp_path, config, token, 1)
        try:
            healthy: httpx.Response | None = None

            async def is_healthy() -> bool:
                nonlocal healthy
                try:
                    healthy = await http.get(f"{base}/healthz")
                except httpx.TransportError:
                    return False
                return healthy.status_code == 200

            async with asyncio.timeout(60):
                while not await is_healthy():  # noqa: ASYNC110 - a server to poll
                    await asyncio.sleep(0.1)
            assert healthy is not None
            assert healthy.json() == {
                "status": "ok",
                "checks": {"database": "ok", "telegram": "ok"},
            }

            citizens = [hub.citizen() for _ in range(CITIZENS)]
            load = asyncio.gather(*(answer(c, n) for n, c in enumerate(citizens)))
            scrapes: list[str] = []
            while not load.done():  # scrapes while the citizens answer
                scrapes.append((await http.get(f"{base}/metrics")).text)
                await asyncio.sleep(0.2)
            await load
            text = (await http.get(f"{base}/metrics")).text
        finally:
            assert bot.stop() == 0, bot.output()

    assert len(scrapes) >= 2
    # Each citizen: /start, the consent button, ITEMS answers.
    handled = sample(text, "qn_bot_messages_total", platform="telegram", outcome="handled")
    assert handled is not None
    assert handled >= CITIZENS * (2 + ITEMS)
    assert sample(text, "qn_bot_answer_latency_seconds_count", platform="telegram") == sum(
        sample(text, "qn_bot_messages_total", platform="telegram", outcome=o) or 0
        for o in ("handled", "duplicate", "refused", "failed")
    )
    batches = sample(text, "qn_bot_group_commit_batch_size_count")
    assert batches is not None
    assert 0 < batches <= handled
    sent = sample(text, "qn_bot_sends_total", platform="telegram", outcome="sent")
    assert sent is not None
    assert sent >= CITIZENS * (3 + ITEMS)
    assert sample(text, "qn_bot_outbox_backlog", platform="telegram") is not None
    assert sample(text, "qn_bot_outbox_oldest_pending_seconds", platform="telegram") is not None
    held = [line for line in text.splitlines() if line.startswith("qn_bot_leadership_held{")]
    assert any(line.endswith(" 1.0") and "telegram" in line for line in held), held
    assert (sample(text, "process_resident_memory_bytes") or 0) > 0
    assert (sample(text, "process_cpu_seconds_total") or 0) > 0
    # No id, token or answer text in any series.
    assert token not in text
    assert "Idée" not in text
    assert str(citizens[0].user["id"]) not in text


async def test_healthz_says_503_and_why_while_telegram_cannot_be_reached(tmp_path: Path) -> None:
    port, closed = free_port(), free_port()
    config = sqlite_config(tmp_path, f"http://127.0.0.1:{closed}/bot", f"\n[http]\nport = {port}\n")
    bot = BotProcess(tmp_path, config, new_token(), 1)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response: httpx.Response | None = None

            async def answered() -> bool:
                nonlocal response
                try:
                    response = await http.get(f"http://127.0.0.1:{port}/healthz")
                except httpx.TransportError:
                    return False
                return True

            async with asyncio.timeout(60):
                while not await answered():  # noqa: ASYNC110 - a server to poll
                    await asyncio.sleep(0.1)
            assert response is not None
            assert response.status_code == 503
            body = response.json()
            assert body["status"] == "unavailable"
            assert body["checks"]["database"] == "ok"
            assert "telegram not reachable" in body["checks"]["telegram"]
    finally:
        assert bot.stop() == 0, bot.output()
    await wait_until(lambda: bot.proc.poll() is not None)
