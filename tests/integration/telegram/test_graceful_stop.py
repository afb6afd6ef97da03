"""SIGTERM to a real `qn-bot run` under load: it stops taking updates, finishes what it holds,
hands the rest back and exits in bounded time; the next process loses and repeats nothing."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from qn_bot.app import STOP_WITHIN
from tests.integration.construire import CONSENT_QUESTION, NOTED, prompt
from tests.integration.processes import SLUG, QnBot
from tests.integration.telegram.harness import BotHub, Citizen, Emulator, new_token
from tests.integration.telegram.test_process import BotProcess

pytestmark = pytest.mark.integration

CITIZENS = 3
BEFORE = 5  # answers each citizen sends before the stop
AFTER = 2  # and while the process is stopping


def noted(citizen: Citizen) -> list[int]:
    return [int(n) for n in NOTED.findall("\n".join(m.plain for m in citizen.history))]


def stored(rows: list[dict[str, Any]], answers: list[str]) -> list[str]:
    return [r["text"] for r in rows if r["step"] == "pourquoi" and r["text"] in answers]


async def wait_for_line(bot: BotProcess, line: str, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while line not in bot.output():  # noqa: ASYNC110 - a file, nothing to wait on
            await asyncio.sleep(0.05)


async def test_sigterm_under_load_loses_nothing_and_sends_nothing_twice(
    emulator: Emulator, tmp_path: Path
) -> None:
    token = new_token()
    config = tmp_path / "qn_bot.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "qn.db"}"\n\n'
        f'[telegram]\nbase_url = "{emulator.url}/bot"\n',
        encoding="utf-8",
    )
    answers = {
        n: [f"Idée {k} de la personne {n}" for k in range(1, BEFORE + AFTER + 1)]
        for n in range(CITIZENS)
    }
    async with BotHub(emulator.url, token) as hub:
        first = BotProcess(tmp_path, config, token, 1)
        second: BotProcess | None = None
        try:
            citizens = [hub.citizen() for _ in range(CITIZENS)]

            async def consent(citizen: Citizen) -> None:
                await citizen.send(f"/start {SLUG}", CONSENT_QUESTION, within=30)
                await citizen.press("J’accepte")
                await citizen.expect(prompt("pourquoi"), within=15)

            await asyncio.gather(*(consent(c) for c in citizens))
            # Replies are paced at about one a second per chat: each burst leaves most of its
            # acknowledgements queued in the outbox, some claimed, when the stop comes.
            await asyncio.gather(*(c.burst(*answers[n][:BEFORE]) for n, c in enumerate(citizens)))
            await asyncio.gather(*(c.expect("(2 au total)", within=20) for c in citizens))
            stopping = time.monotonic()
            first.proc.send_signal(signal.SIGTERM)
            await wait_for_line(first, "stopping:")
            # Updates that come while it stops are the next process's to take.
            await asyncio.gather(*(c.burst(*answers[n][BEFORE:]) for n, c in enumerate(citizens)))
            code = await asyncio.to_thread(first.proc.wait, STOP_WITHIN + 10)
            took = time.monotonic() - stopping
            assert code == 0, first.output()
            assert took < STOP_WITHIN, f"stopped in {took:.1f} s"
            log = first.output()
            assert "Traceback" not in log, log
            assert "failed to send" not in log, log
            # What it took was stored, in order (updates not confirmed to Telegram, or still
            # waiting when the dispatcher's time was up, are the next process's); none of those
            # sent once the stop began.
            rows = await asyncio.to_thread(QnBot(tmp_path, config).export_json)
            for n in range(CITIZENS):
                taken = stored(rows, answers[n])
                assert taken == answers[n][: len(taken)], taken
                assert 2 <= len(taken) <= BEFORE, taken

            second = BotProcess(tmp_path, config, token, 2)
            await asyncio.gather(
                *(c.expect(f"({BEFORE + AFTER} au total)", within=40) for c in citizens)
            )
            for citizen in citizens:
                await citizen.settle(quiet=1.5)  # a message sent twice would come meanwhile
            assert second.stop() == 0, second.output()
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):
                first.stop()
            if second is not None:
                second.stop()

    rows = await asyncio.to_thread(QnBot(tmp_path, config).export_json)
    for n, citizen in enumerate(citizens):
        assert stored(rows, answers[n]) == answers[n]
        # Each acknowledgement exactly once: none lost, none sent twice.
        assert sorted(noted(citizen)) == list(range(1, BEFORE + AFTER + 1)), citizen.transcript()
    assert "Traceback" not in second.output()
    # A stop is no failed delivery: no attempt spent, no error recorded (sends to a closed
    # connection used to be).
    with contextlib.closing(sqlite3.connect(tmp_path / "qn.db")) as db:
        errors = db.execute("SELECT last_error FROM outbox WHERE last_error IS NOT NULL").fetchall()
    assert errors == []
