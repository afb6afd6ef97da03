"""`qn-bot chat` meeting a database locked by another program: the line is answered once the
lock is gone, and stored once (the console protocol answers every line)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from qn_bot.store.database import SQLITE_PRAGMAS
from tests.integration.construire import prompt
from tests.integration.processes import SLUG, SQLITE_ONLY, QnBot

pytestmark = [pytest.mark.integration, SQLITE_ONLY]

BUSY_TIMEOUT = next(int(p.rpartition("=")[2]) / 1000 for p in SQLITE_PRAGMAS if "busy_timeout" in p)


def test_a_console_line_that_met_a_locked_database_is_answered_after_it(
    qn: QnBot, tmp_path: Path
) -> None:
    chat = qn.chat("--campaign", SLUG, "--as", "alice")
    assert prompt("pourquoi") in chat.send("1")
    other = sqlite3.connect(tmp_path / "test.db", isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")
    locked_at = time.monotonic()
    try:
        chat.proc.stdin.write(b"Pendant le verrou\n")  # type: ignore[union-attr]
        chat.proc.stdin.flush()  # type: ignore[union-attr]
        time.sleep(BUSY_TIMEOUT + 2)
        assert "(1 au total)" not in chat.stdout
    finally:
        other.execute("ROLLBACK")
        other.close()
    chat.transcript.append("> Pendant le verrou")
    answer = chat.wait_answer("(1 au total)", timeout=40)
    assert time.monotonic() - locked_at > BUSY_TIMEOUT
    assert "erreur" not in answer.lower()
    assert "(2 au total)" in chat.send("Après")
    assert chat.close() == 0
    texts = [r["text"] for r in qn.export_json() if r["step"] == "pourquoi"]
    assert texts == ["Pendant le verrou", "Après"]
