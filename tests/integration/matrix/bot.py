"""`qn-bot run` as a subprocess, configured for a Matrix account on the test Synapse."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.integration.processes import QnBot, clean_env, qn_bot_command, write_config

READY_LINE = "matrix: first sync done"


class BotProcess:
    def __init__(
        self,
        workdir: Path,
        homeserver: str,
        user_id: str,
        password: str,
        *,
        allowed: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.user_id = user_id
        allowed_toml = ", ".join(f'"{a}"' for a in allowed)
        self.config = write_config(
            workdir,
            "\n[matrix]\n"
            f'homeserver = "{homeserver}"\n'
            f'user_id = "{user_id}"\n'
            f'store_path = "{(workdir / "matrix-store").as_posix()}"\n'
            f"allowed_servers = [{allowed_toml}]\n",
        )
        self.env = {**clean_env(), "QN_BOT_MATRIX_PASSWORD": password}
        self.qn = QnBot(workdir, self.config)
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"bot-{self.runs}.log"

    def start(self, timeout: float = 30) -> None:
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
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
