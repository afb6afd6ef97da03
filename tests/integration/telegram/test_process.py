"""The bot as a real `qn-bot run` process killed with SIGKILL; the update journal; webhooks."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from qn_bot.adapters.telegram.receiving import JOURNAL_KEY, Poller
from telegram import Bot

from qn_bot.app import STOP_WITHIN
from tests.integration.construire import CONSENT_QUESTION, NOTED, prompt
from tests.integration.processes import SLUG, QnBot, clean_env, qn_bot_command
from tests.integration.telegram.conftest import running_bot, telegram_config
from tests.integration.telegram.harness import BotHub, Citizen, Emulator, free_port, new_token

pytestmark = pytest.mark.integration


class BotProcess:
    """`qn-bot run` polling the emulator; token from QN_BOT_TELEGRAM_TOKEN, like production."""

    def __init__(
        self, directory: Path, config: Path, token: str, n: int, *, verbosity: str = "-v"
    ) -> None:
        env = clean_env()
        env["QN_BOT_TELEGRAM_TOKEN"] = token
        self.log = directory / f"bot-{n}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*qn_bot_command(), "--config", str(config), verbosity, "run"],
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(STOP_WITHIN + 5)  # a graceful stop's bound
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def noted_counts(citizen: Citizen) -> list[int]:
    return [int(n) for n in NOTED.findall("\n".join(m.plain for m in citizen.history))]


async def test_sigkill_mid_flow_then_restart_loses_and_duplicates_nothing(
    emulator: Emulator, tmp_path: Path, database_url: str
) -> None:
    """On SQLite and on PostgreSQL (``database_url``)."""
    token = new_token()
    config = tmp_path / "qn_bot.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n\n[telegram]\nbase_url = "{emulator.url}/bot"\n',
        encoding="utf-8",
    )
    items = [f"Idée {n} avant et après le crash" for n in range(1, 9)]
    async with BotHub(emulator.url, token) as hub:
        first = BotProcess(tmp_path, config, token, 1)
        second: BotProcess | None = None
        try:
            alice = hub.citizen()
            await alice.send(f"/start {SLUG}", CONSENT_QUESTION, within=30)
            await alice.press("J’accepte")
            await alice.expect(prompt("pourquoi"))
            # A burst of answers; the bot dies while it is still working through them (its
            # replies are paced at about one a second in this chat).
            for item in items:
                await alice.say(item)
            await alice.expect("(2 au total)", within=15)
            first.kill()

            second = BotProcess(tmp_path, config, token, 2)
            # The reply the dead process was sending is leased to it for 60 s (qn_bot.outbox):
            # the new process takes it over at once — on SQLite because it is the only process
            # on the file, on PostgreSQL because the dead one's liveness lock is free.
            await alice.expect(f"({len(items)} au total)", within=30)
            await alice.press("Suivant")
            await alice.expect(prompt("meurt"), within=15)
            await alice.send("Après le redémarrage", "(1 au total)", within=15)
            assert second.stop() == 0, second.output()
        finally:
            first.stop()
            if second is not None:
                second.stop()

    # Every answer stored once, in order; every acknowledgement sent (one may be sent twice:
    # delivery is at least once), none for an answer counted twice.
    rows = await asyncio.to_thread(QnBot(tmp_path, config).export_json)
    assert [r["text"] for r in rows if r["step"] == "pourquoi"] == items
    assert [r["text"] for r in rows if r["step"] == "meurt"] == ["Après le redémarrage"]
    counts = noted_counts(alice)
    assert set(counts) == set(range(1, len(items) + 1))
    assert len(counts) <= len(items) + 2
    assert "Traceback" not in first.output() + second.output()


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - a plain condition, nothing to wait on
            await asyncio.sleep(0.01)


class MemoryKV:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def get(self, key: str) -> Any:
        return self.data.get(key)

    async def set(self, key: str, value: Any) -> None:
        self.data[key] = value


async def test_updates_fetched_but_not_handled_survive_a_crash(emulator: Emulator) -> None:
    """The poller journals what it fetched before confirming it to Telegram (next offset)."""
    token = new_token()
    kv = MemoryKV()
    async with (
        BotHub(emulator.url, token) as hub,
        Bot(token, base_url=f"{emulator.url}/bot") as bot,
    ):
        alice = hub.citizen()
        for n in range(3):
            await alice.say(f"message {n}")
        never: list[asyncio.Future[None]] = []

        def stuck(update: dict[str, Any]) -> asyncio.Future[None]:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            never.append(future)
            return future

        poller = Poller(bot, kv, stuck, timeout=1)
        task = asyncio.create_task(poller.run())
        await wait_until(lambda: len(never) == 3)
        await asyncio.sleep(1.5)  # the next getUpdates confirmed them to the server
        task.cancel()  # the process dies: nothing was handled
        assert (await hub.state())["pending_updates"] == 0
        journal = kv.data[JOURNAL_KEY]
        assert [u["message"]["text"] for u in journal["pending"]] == [
            "message 0",
            "message 1",
            "message 2",
        ]

        handled: list[str] = []

        def handle(update: dict[str, Any]) -> asyncio.Future[None]:
            handled.append(update["message"]["text"])
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future

        await alice.say("message 3")
        restarted = Poller(bot, kv, handle, timeout=1)
        task = asyncio.create_task(restarted.run())
        # An update leaves the journal in its handling's done-callback, which runs a loop turn
        # after the handler returned: wait for that, not only for the handler's call.
        await wait_until(lambda: len(handled) == 4 and not restarted._pending)
        task.cancel()
        assert handled == ["message 0", "message 1", "message 2", "message 3"]
        await restarted.save()
        assert kv.data[JOURNAL_KEY]["pending"] == []


async def test_webhook_mode_with_a_secret_token(
    emulator: Emulator, tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/telegram/hook"
    config = telegram_config(
        emulator,
        tmp_path,
        database_url=database_url,
        mode="webhook",
        webhook_url=hook,
        webhook_secret="s3cret-Token_42",
        listen="127.0.0.1",
        port=port,
    )
    async with running_bot(config) as bot:
        state = await bot.hub.state()
        assert state["webhook"] == {"url": hook, "has_secret": True}
        assert state["calls"].get("getUpdates", 0) == 0
        alice = bot.hub.citizen()
        await alice.send(f"/start {SLUG}", CONSENT_QUESTION)
        await alice.press("J’accepte")
        await alice.expect(prompt("pourquoi"))
        await alice.send("Révolution numérique", "(1 au total)")
        await alice.press("Suivant")
        await alice.expect(prompt("meurt"))

        update = {
            "update_id": 999_999,
            "message": {
                "message_id": 999_999,
                "date": 0,
                "chat": alice.chat,
                "from": alice.user,
                "text": "Injection sans secret",
            },
        }
        async with httpx.AsyncClient() as client:
            missing = await client.post(hook, json=update)
            wrong = await client.post(
                hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
        assert (missing.status_code, wrong.status_code) == (403, 403)
        assert await alice.settle(0.5) == []
        rows = await bot.export()
        assert [r["text"] for r in rows] == ["Révolution numérique"]
