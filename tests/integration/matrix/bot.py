"""`qn-bot run` as a subprocess, configured for a Matrix account on the test Synapse.

The bot's database is a SQLite file in its directory, or the ``database_url`` given (a fresh
PostgreSQL database in the tests that run on both backends).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from qn_bot.app import STOP_WITHIN
from qn_bot.store.sql import Store
from tests.integration.processes import clean_env, qn_bot_command

T = TypeVar("T")

READY_LINE = "matrix: first sync done"
SLUG = "construire-2030"


def on_store(url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` on a store of ``url`` in a thread of its own, from sync or async tests."""

    async def run() -> T:
        async with Store.from_url(url) as store:
            return await work(store)

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


class BotProcess:
    def __init__(
        self,
        workdir: Path,
        homeserver: str,
        user_id: str,
        password: str,
        *,
        allowed: tuple[str, ...] = (),
        database_url: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.user_id = user_id
        allowed_toml = ", ".join(f'"{a}"' for a in allowed)
        self.db = (workdir / "test.db").resolve()  # the SQLite file, if no database_url
        if database_url is None:
            database_url = f"sqlite:///{self.db.as_posix()}"
        self.database_url = database_url
        self.config = workdir / "qn_bot_test.toml"
        self.config.write_text(
            f'[database]\nurl = "{database_url}"\n'
            "\n[matrix]\n"
            f'homeserver = "{homeserver}"\n'
            f'user_id = "{user_id}"\n'
            f'store_path = "{(workdir / "matrix-store").as_posix()}"\n'
            f"allowed_servers = [{allowed_toml}]\n"
            # Test citizens answer as fast as the bot does, far beyond any person's pace.
            "\n[limits]\nmessages_per_window = 1000\nwindow_seconds = 1\n",
            encoding="utf-8",
        )
        self.env = {**clean_env(), "QN_BOT_MATRIX_PASSWORD": password}
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"bot-{self.runs}.log"

    def start(self, timeout: float = 30, *, wait: bool = True) -> None:
        self.runs += 1
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*qn_bot_command(), "-v", "--config", str(self.config), "run"],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until this run logged its first sync (fails if the process died)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qn-bot run exited:\n{self.log()}")
            if READY_LINE in self.log():
                return
            time.sleep(0.05)
        raise RuntimeError(f"qn-bot run not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, exactly like a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_WITHIN + 5)  # a graceful stop is bounded by it
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def export_json(self, slug: str = SLUG) -> list[dict[str, Any]]:
        """`qn-bot export SLUG --format json` in a subprocess (the bot may be running)."""
        proc = subprocess.run(
            [*qn_bot_command(), "--config", str(self.config), "export", slug, "--format", "json"],
            cwd=self.workdir,
            env=clean_env(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        rows = json.loads(proc.stdout)
        assert isinstance(rows, list)
        return rows

    def kv(self, key: str) -> Any:
        """The adapter's durable state, read from the database through the store."""

        async def read(store: Store) -> Any:
            async with store.transaction() as tx:
                return await tx.kv.kv_get(f"adapter:matrix:{key}")

        return on_store(self.database_url, read)

    def set_kv(self, key: str, value: Any) -> None:
        """Overwrite the adapter's state (only while the bot is dead)."""
        assert self.proc is None or self.proc.poll() is not None

        async def write(store: Store) -> None:
            async with store.transaction() as tx:
                await tx.kv.kv_set(f"adapter:matrix:{key}", value, datetime.now(UTC))

        on_store(self.database_url, write)
