"""`qn-bot db backup` under write load and `qn-bot db restore` (issue 16 item 2): real
processes on a SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from qn_bot.store.instance import single_process
from tests.integration.processes import SLUG, SQLITE_ONLY, QnBot

pytestmark = [pytest.mark.integration, SQLITE_ONLY]


class Writer(threading.Thread):
    """Writes pairs of rows, each pair in one transaction, until stopped: a consistent copy
    holds whole pairs only."""

    def __init__(self, database: Path) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.stopping = threading.Event()
        self.warm = threading.Event()  # set once 200 pairs are written
        self.pairs = 0

    def run(self) -> None:
        with closing(sqlite3.connect(self.database, isolation_level=None, timeout=30)) as db:
            db.execute("CREATE TABLE IF NOT EXISTS load (pair INTEGER, half INTEGER)")
            while not self.stopping.is_set():
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO load VALUES (?, 0)", (self.pairs,))
                db.execute("INSERT INTO load VALUES (?, 1)", (self.pairs,))
                db.execute("COMMIT")
                self.pairs += 1
                if self.pairs == 200:
                    self.warm.set()


def count(database: Path, sql: str) -> int:
    with closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(db.execute(sql).fetchone()[0])


def test_backup_under_write_load_restores_to_a_consistent_copy(qn: QnBot, tmp_path: Path) -> None:
    database = tmp_path / "test.db"
    created = qn("campaign", "create", "autre", "--flow", SLUG, "--title", "Autre")
    assert created.rc == 0, created
    writer = Writer(database)
    writer.start()
    try:
        assert writer.warm.wait(30)
        first = qn("db", "backup", str(tmp_path / "backup.db"))
        assert first.rc == 0, first
        assert "backup written" in first.stdout
        during = writer.pairs
    finally:
        writer.stopping.set()
        writer.join(30)
    backup = tmp_path / "backup.db"
    assert not (tmp_path / "backup.db-wal").exists()  # the backup stands alone
    rows = count(backup, "SELECT count(*) FROM load")
    assert rows % 2 == 0  # whole transactions only
    assert 400 <= rows <= 2 * during + 2
    assert rows < 2 * writer.pairs  # taken while writing went on
    assert count(backup, "SELECT count(*) FROM campaigns") == 1

    # The database moves on; restoring brings it back to the backup.
    more = qn("campaign", "create", "encore", "--flow", SLUG, "--title", "Encore")
    assert more.rc == 0, more
    restored = qn("db", "restore", str(backup))
    assert restored.rc == 0, restored
    assert "database restored" in restored.stdout
    assert count(database, "SELECT count(*) FROM load") == rows
    listed = qn("campaign", "list", "--format", "tsv")
    assert listed.rc == 0, listed
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()[1:]] == ["autre"]


def test_restore_refuses_a_database_in_use(qn: QnBot, tmp_path: Path) -> None:
    database = tmp_path / "test.db"
    assert qn("campaign", "list").rc == 0  # creates and migrates the database
    backup = tmp_path / "backup.db"
    assert qn("db", "backup", str(backup)).rc == 0

    # A `qn-bot run` holds the database's process lock.
    with single_process(f"sqlite:///{database.as_posix()}"):
        refused = qn("db", "restore", str(backup))
    assert refused.rc == 1, refused
    assert "another `qn-bot run`" in refused.stderr
    # Any other process with the file open (here, this test's own connection).
    with closing(sqlite3.connect(database)) as open_db:
        open_db.execute("SELECT 1").fetchone()
        refused = qn("db", "restore", str(backup))
    assert refused.rc == 1, refused
    assert "in use by process" in refused.stderr
    assert "Traceback" not in refused.stderr

    # Not a backup: said, nothing replaced.
    junk = tmp_path / "junk.db"
    junk.write_text("not a database", encoding="utf-8")
    refused = qn("db", "restore", str(junk))
    assert refused.rc == 1, refused
    assert "not a qn-bot database backup" in refused.stderr
    assert qn("db", "restore", str(backup)).rc == 0
