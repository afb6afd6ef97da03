"""`qn-bot run` as an operator meets it: one process per SQLite file, Telegram unreachable at
start, the bot token never in a log line. Real processes against the emulator."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.integration.construire import CONSENT_QUESTION, prompt
from tests.integration.processes import SLUG, QnBot
from tests.integration.telegram.harness import BotHub, Emulator, free_port, new_token
from tests.integration.telegram.test_process import BotProcess, wait_until

pytestmark = pytest.mark.integration

RUNNING = "qn-bot running with telegram"


def sqlite_config(directory: Path, base_url: str, extra: str = "") -> Path:
    config = directory / "qn_bot.toml"
    db = (directory / "bot.db").resolve().as_posix()
    config.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n\n[telegram]\nbase_url = "{base_url}"\n{extra}',
        encoding="utf-8",
    )
    return config


async def test_a_second_run_on_one_sqlite_file_exits_at_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    token = new_token()
    config = sqlite_config(tmp_path, f"{emulator.url}/bot")
    async with BotHub(emulator.url, token) as hub:
        first = BotProcess(tmp_path, config, token, 1)
        second = third = None
        try:
            await wait_until(lambda: RUNNING in first.output(), within=60)
            second = BotProcess(tmp_path, config, token, 2)
            rc = await asyncio.to_thread(second.proc.wait, 30)
            out = second.output()
            assert rc == 1, out
            assert "Traceback" not in out
            assert "another `qn-bot run`" in out
            assert f"pid {first.proc.pid}" in out
            assert str((tmp_path / "bot.db").resolve()) in out
            assert [line for line in out.splitlines() if line.startswith("error:")] == [
                line for line in out.splitlines() if line.strip()
            ]

            # The first one is untouched: it answers, once.
            alice = hub.citizen()
            await alice.send(f"/start {SLUG}", CONSENT_QUESTION, within=30)
            await alice.press("J’accepte")
            await alice.expect(prompt("pourquoi"))
            await alice.send("Une seule réponse", "(1 au total)", within=15)
            await alice.settle(1.0)
            assert sum("(1 au total)" in m.plain for m in alice.history) == 1

            # A chat beside the running bot keeps working.
            qn = QnBot(tmp_path, config)
            chat = await asyncio.to_thread(qn.chat, "--campaign", SLUG, "--as", "bob")
            try:
                answer = await asyncio.to_thread(chat.send, "1")
                assert prompt("pourquoi") in answer
            finally:
                await asyncio.to_thread(chat.close)

            # SIGKILL leaves no stale lock: the kernel released it with the process.
            first.kill()
            third = BotProcess(tmp_path, config, token, 3)
            await wait_until(lambda: RUNNING in third.output(), within=60)
            await alice.send("Après la relève", "(2 au total)", within=30)
            assert third.stop() == 0, third.output()
        finally:
            for bot in (first, second, third):
                if bot is not None:
                    bot.stop()


async def test_telegram_unreachable_at_start_is_retried_and_the_token_never_logged(
    tmp_path: Path,
) -> None:
    """Nothing listens at base_url when the bot starts; the emulator comes up later."""
    token = new_token()
    port = free_port()
    config = sqlite_config(tmp_path, f"http://127.0.0.1:{port}/bot")
    bot = BotProcess(tmp_path, config, token, 1, verbosity="-vv")
    emulator: Emulator | None = None
    try:
        await wait_until(lambda: bot.output().count("Telegram unreachable") >= 3, within=60)
        assert bot.proc.poll() is None, bot.output()
        emulator = await asyncio.to_thread(Emulator, port=port)
        async with BotHub(emulator.url, token) as hub:
            alice = hub.citizen()
            started = time.monotonic()
            await alice.send(f"/start {SLUG}", CONSENT_QUESTION, within=60)
            # The backoff is capped: the bot answers within seconds of Telegram coming back.
            assert time.monotonic() - started < 20
            await alice.press("J’accepte")
            await alice.expect(prompt("pourquoi"))
        assert bot.stop() == 0, bot.output()
    finally:
        bot.stop()
        if emulator is not None:
            emulator.stop()
    out = bot.output()
    secret = token.partition(":")[2]
    assert secret not in out
    assert token.replace(":", "%3A") not in out
    assert "Traceback" not in out
    assert "Telegram unreachable" in out
