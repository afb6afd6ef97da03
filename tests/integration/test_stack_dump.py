"""`kill -USR1` on a running qn-bot logs what it waits for and changes nothing else."""

from __future__ import annotations

import signal
import time

import pytest

from tests.integration.processes import SLUG, QnBot

pytestmark = pytest.mark.integration


def test_sigusr1_logs_every_task_and_thread_and_the_chat_goes_on(qn: QnBot) -> None:
    qn.ok("campaign", "create", SLUG, "--flow", "construire-2030", "--title", "C 2030")
    qn.ok("campaign", "open", SLUG)
    chat = qn.chat("--campaign", SLUG, "--as", "dora")
    chat.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while "Current thread" not in chat.stderr and time.monotonic() < deadline:
        time.sleep(0.1)
    dump = chat.stderr
    assert "asked for a stack dump (SIGUSR1)" in dump
    # The chat's own task, down to the line it waits on, and the thread that reads stdin.
    assert "task console-adapter:" in dump
    assert "in run" in dump
    assert "Current thread" in dump
    assert "in _read" in dump  # the thread blocked on stdin
    # Nothing else changed: the chat answers and ends as usual.
    chat.send("1", expect="?")
    assert chat.close() == 0
