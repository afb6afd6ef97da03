"""Run the real `qn-bot` command in subprocesses, each test on its own database.

The database is a SQLite file in the test's directory, or a fresh PostgreSQL database when the
test is parametrised over the backends (``database_url`` of tests/conftest.py, see
tests/integration/conftest.py).

`qn` runs one command to completion; `qn.chat(...)` starts an interactive `qn-bot chat` and
talks to it line by line through the console protocol (docs/architecture.md): every input line
gets at least one line of answer, printed after its transaction committed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SLUG = "construire-2030"
FORMATS = ("md", "html", "csv", "json")

#: Pins a test that asks for ``database_url`` (directly or through ``config_path`` / ``qn``) to
#: SQLite: for tests about files and configuration, or that never open the database, a second
#: backend would only add time.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# How long the output must stay unchanged before an answer counts as complete.
QUIET = 0.3
# The longest we wait for anything from a process (a cold start applies migrations).
TIMEOUT = 20.0


def qn_bot_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m qn_bot.cli`."""
    script = Path(sys.executable).with_name("qn-bot")
    if script.exists():
        return [str(script)]
    found = shutil.which("qn-bot")
    if found:
        return [found]
    return [sys.executable, "-m", "qn_bot.cli"]


def clean_env() -> dict[str, str]:
    """The test's environment without any QN_BOT_* setting that could pick another database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QN_BOT_")}
    env.setdefault("PYTHONIOENCODING", "utf-8")
    # A process that hangs is aborted by the tests (see QnBot.__call__): its threads' stacks
    # then go to stderr, for the report.
    env.setdefault("PYTHONFAULTHANDLER", "1")
    return env


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (
            f"qn-bot {' '.join(self.args)} → rc {self.rc}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def _abort_telling_why(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Stop a process that hangs, with what it waited for on its stderr: SIGUSR1 logs its
    asyncio tasks (qn_bot.ops.stacks), then SIGABRT has the fault handler print every thread
    (even with the event loop itself stuck)."""
    proc.send_signal(signal.SIGUSR1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
    proc.send_signal(signal.SIGABRT)
    return proc.communicate(timeout=30)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class ChatProcess:
    """An interactive `qn-bot chat` subprocess; stdout and stderr are read by threads."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._out = bytearray()
        self._err = bytearray()
        self._cond = threading.Condition()
        self._last_change = time.monotonic()
        self._mark = 0  # where the output of the current exchange starts
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.transcript: list[str] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump(self, stream: Any, buffer: bytearray) -> None:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(1)
            if not chunk:
                break
            with self._cond:
                buffer.extend(chunk)
                self._last_change = time.monotonic()
                self._cond.notify_all()

    # ------------------------------------------------------------------ output

    @property
    def stdout(self) -> str:
        with self._cond:
            return self._out.decode("utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        with self._cond:
            return self._err.decode("utf-8", errors="replace")

    def _since_mark(self) -> str:
        return self._out[self._mark :].decode("utf-8", errors="replace")

    def _describe(self) -> str:
        tail = "\n".join(self.transcript[-20:])
        return (
            f"{' '.join(self.argv)} (rc {self.proc.poll()})\n--- last exchanges\n{tail}\n"
            f"--- pending stdout\n{self._since_mark()}\n--- stderr\n{self.stderr[-4000:]}"
        )

    def wait_answer(
        self, expect: str | re.Pattern[str] | None = None, *, timeout: float = TIMEOUT
    ) -> str:
        """Everything printed since the last exchange, once complete.

        Complete means: at least one full line arrived (the protocol answers every line), it
        matches ``expect`` when given, and nothing more arrived for ``QUIET`` seconds (a shorter
        pause once ``expect`` matched).
        """
        pattern = re.compile(re.escape(expect)) if isinstance(expect, str) else expect
        quiet = QUIET if pattern is None else QUIET / 3
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                text = self._since_mark()
                ready = text.endswith("\n") and (pattern is None or pattern.search(text))
                if ready and now - self._last_change >= quiet:
                    self._mark = len(self._out)
                    self.transcript.append(text.rstrip("\n"))
                    return text
                if now >= deadline:
                    raise AssertionError(
                        f"no complete answer{f' matching {pattern.pattern!r}' if pattern else ''}"
                        f" within {timeout} s\n{self._describe()}"
                    )
                if self.proc.poll() is not None and not ready and self._reader_done():
                    raise AssertionError(f"qn-bot chat exited early\n{self._describe()}")
                self._cond.wait(timeout=min(quiet, max(0.01, deadline - now)))

    def _reader_done(self) -> bool:
        return not self._readers[0].is_alive()

    def send(
        self, line: str, expect: str | re.Pattern[str] | None = None, *, timeout: float = TIMEOUT
    ) -> str:
        """Type one line and return the bot's whole answer to it."""
        assert "\n" not in line, "one message is one line"
        assert "\r" not in line, "one message is one line"
        self.transcript.append(f"> {line[:200]}")
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()
        return self.wait_answer(expect, timeout=timeout)

    # ------------------------------------------------------------------ ending

    def close(self, timeout: float = TIMEOUT) -> int:
        """Send EOF and wait for a clean exit; returns the exit code."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # see _abort_telling_why
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=2)
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait()
            for reader in self._readers:
                reader.join(timeout=5)
            raise AssertionError(f"qn-bot chat did not exit on EOF\n{self._describe()}") from None
        for reader in self._readers:
            reader.join(timeout=5)
        return rc

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM killer would: nothing gets to clean up."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=5)
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()

    def ensure_dead(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class QnBot:
    """Runs `qn-bot --config <tmp config> ...` in ``workdir`` with a clean environment."""

    def __init__(self, workdir: Path, config: Path) -> None:
        self.workdir = workdir
        self.config = config
        self.env = clean_env()
        self._chats: list[ChatProcess] = []

    def argv(self, *args: str) -> list[str]:
        return [*qn_bot_command(), "--config", str(self.config), *args]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60) -> Result:
        return self.finish(self.start(*args), input=input, timeout=timeout)

    def start(self, *args: str) -> tuple[tuple[str, ...], subprocess.Popen[bytes]]:
        """A process left running; :meth:`finish` feeds it and waits for it."""
        proc = subprocess.Popen(
            self.argv(*args),
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return tuple(args), proc

    def finish(
        self,
        started: tuple[tuple[str, ...], subprocess.Popen[bytes]],
        *,
        input: str | None = None,
        timeout: float = 60,
    ) -> Result:
        args, proc = started
        data = None if input is None else input.encode("utf-8")
        try:
            out, err = proc.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            out, err = _abort_telling_why(proc)
            raise AssertionError(
                f"still running after {timeout} s, aborted\n"
                + str(Result(args, -1, _text(out), _text(err)))
            ) from None
        return Result(args, proc.returncode, _text(out), _text(err))

    def parallel(self, *commands: Sequence[str], timeout: float = 60) -> list[Result]:
        """Run several read-only commands at once and insist that each exits with 0."""
        results = self.parallel_any(*commands, timeout=timeout)
        for result in results:
            assert result.rc == 0, str(result)
        return results

    def parallel_any(
        self,
        *commands: Sequence[str],
        inputs: Sequence[str | None] | None = None,
        timeout: float = 60,
    ) -> list[Result]:
        """Run several commands at once (each start costs most of a second)."""
        started = [self.start(*args) for args in commands]
        feeds = inputs if inputs is not None else [None] * len(started)
        return [
            self.finish(one, input=feed, timeout=timeout)
            for one, feed in zip(started, feeds, strict=True)
        ]

    def exports(self, slug: str = SLUG) -> dict[str, str]:
        """The four exports of ``slug``, by format."""
        return {fmt: self.read("export", slug, "--format", fmt).stdout for fmt in FORMATS}

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Run and insist on exit code 0."""
        result = self(*args, input=input)
        assert result.rc == 0, str(result)
        return result

    def inproc(self, *args: str) -> Result:
        """Run ``qn_bot.cli.main`` in this process: the same code as the `qn-bot` script.

        Starting an interpreter costs most of a second, so checks that only read (list,
        export) run here; what a test is about runs as a real process.
        """
        from qn_bot.cli import main

        out, err = io.StringIO(), io.StringIO()
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("QN_BOT_")}
        try:
            with (
                contextlib.chdir(self.workdir),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                try:
                    rc = main(["--config", str(self.config), *args])
                except SystemExit as exit_:  # argparse: --help, usage errors
                    rc = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            os.environ.update(saved)
        return Result(tuple(args), rc, out.getvalue(), err.getvalue())

    def read(self, *args: str) -> Result:
        """``inproc`` insisting on exit code 0."""
        result = self.inproc(*args)
        assert result.rc == 0, str(result)
        return result

    def chat(
        self, *args: str, wait_intro: bool = True, intro: str | re.Pattern[str] | None = None
    ) -> ChatProcess:
        """Start `qn-bot chat ARGS`; by default wait until its opening messages are printed —
        until ``intro`` is among them when given (on a busy machine the opening's messages can
        come further apart than the quiet pause that otherwise ends the wait)."""
        chat = ChatProcess(self.argv("chat", *args), self.workdir, self.env)
        self._chats.append(chat)
        if wait_intro:
            chat.wait_answer(intro)
        return chat

    def export_json(self, slug: str = SLUG) -> list[dict[str, Any]]:
        rows = self.read("export", slug, "--format", "json").json()
        assert isinstance(rows, list)
        return rows

    def cleanup(self) -> None:
        for chat in self._chats:
            chat.ensure_dead()


def write_config(directory: Path, extra: str = "", url: str | None = None) -> Path:
    """A config on the database ``url``; by default a SQLite file ``test.db`` in ``directory``.

    ``extra`` goes after the ``[database]`` table: tables, not top-level keys.
    """
    if url is None:
        url = f"sqlite:///{(directory / 'test.db').resolve().as_posix()}"
    path = directory / "qn_bot_test.toml"
    path.write_text(f'[database]\nurl = "{url}"\n{extra}', encoding="utf-8")
    return path
