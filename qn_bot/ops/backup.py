"""`qn-bot db backup PATH` and `qn-bot db restore PATH` for a SQLite database.

The backup goes through SQLite's online backup API: a copy of one consistent state of the
database, taken while the bot goes on writing (WAL mode: the copy reads a snapshot, writers are
not held up). It is written beside its destination and renamed into place, so a PATH that
exists is always a whole backup. PostgreSQL has pg_dump / pg_restore (README, "Operations").

A restore replaces the database, so it refuses while anything has the database open: a
`qn-bot run` (its process lock), or any other process with the file open (`qn-bot chat`, a
`sqlite3` shell).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from qn_bot.errors import DatabaseError, DatabaseInUse
from qn_bot.store.database import sqlite_path
from qn_bot.store.instance import single_process

#: The whole file in one step: between steps SQLite lets go of the source, and a write by
#: another connection meanwhile restarts the copy, so a busy bot could keep a stepwise backup
#: from ever finishing. One step reads one snapshot, and WAL lets writers go on.
PAGES_PER_STEP = -1


def _sqlite_file(url: str, verb: str) -> Path:
    path = sqlite_path(url)
    if path is None:
        raise DatabaseError(
            f"`qn-bot db {verb}` copies a SQLite file; for PostgreSQL use pg_dump / pg_restore "
            '(README, "Operations")'
        )
    return path


def backup(url: str, destination: Path) -> int:
    """Copy the database of ``url`` to ``destination``; returns its size in bytes."""
    source = _sqlite_file(url, "backup")
    if not source.is_file():
        raise DatabaseError(f"no database file at {source}")
    destination = destination.resolve()
    if destination == source.resolve():
        raise DatabaseError("the backup would overwrite the database itself")
    if destination.is_dir():
        raise DatabaseError(f"{destination} is a folder: give the backup file's path")
    partial = destination.with_name(f".{destination.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        # mode=ro: a backup never writes to the database it copies (and never creates it).
        with (
            closing(sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)) as src,
            closing(sqlite3.connect(partial)) as dst,
        ):
            src.execute("PRAGMA busy_timeout = 30000")
            src.backup(dst, pages=PAGES_PER_STEP)
            # A backup stands alone: no -wal file beside it holds part of it.
            dst.execute("PRAGMA journal_mode = DELETE")
        os.replace(partial, destination)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise DatabaseError(f"backup of {source} failed: {exc}") from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DatabaseError(f"cannot write the backup {destination}: {exc.strerror}") from None
    return destination.stat().st_size


def check_backup(path: Path) -> str:
    """The migration revision of a backup file; raises when it is not a sound qn-bot database."""
    if not path.is_file():
        raise DatabaseError(f"no backup file at {path}")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            status = db.execute("PRAGMA integrity_check").fetchone()[0]
            if status != "ok":
                raise DatabaseError(f"{path} is damaged: {status}")
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path} is not a qn-bot database backup ({exc})") from None
    if row is None:
        raise DatabaseError(f"{path} is not a qn-bot database backup (no schema version)")
    return str(row[0])


def restore(url: str, backup_file: Path) -> str:
    """Replace the database of ``url`` with ``backup_file``; returns the backup's revision.
    Raises :class:`DatabaseInUse` while a `qn-bot run` or any other process has it open."""
    target = _sqlite_file(url, "restore")
    revision = check_backup(backup_file)
    if target.exists() and backup_file.resolve() == target.resolve():
        raise DatabaseError("the backup is the database itself")
    # Holding the run lock: no `qn-bot run` starts on the database while it is replaced.
    with single_process(url):
        users = list(_processes_using(target))
        if users:
            raise DatabaseInUse(
                f"the database {target} is in use by process {', '.join(map(str, users))}: "
                "stop the bot (and any `qn-bot chat` or sqlite3 shell on it) before restoring"
            )
        try:
            with (
                closing(
                    sqlite3.connect(f"{backup_file.resolve().as_uri()}?mode=ro", uri=True)
                ) as src,
                closing(sqlite3.connect(target)) as dst,
            ):
                # Through the backup API into the live file name: its -wal and -shm stay
                # coherent with it, which copying the file over them would not.
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as exc:
            raise DatabaseError(f"restore into {target} failed: {exc}") from None
    return revision


def _processes_using(database: Path) -> Iterator[int]:
    """Other processes with the database (or its journal) open, from /proc (Linux); none
    found where /proc does not exist."""
    names = {str(database.resolve()) + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    proc = Path("/proc")
    if not proc.is_dir():
        return
    me = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:  # gone, or another user's process we may not look into
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in names:
                    yield int(entry.name)
                    break
            except OSError:
                continue
