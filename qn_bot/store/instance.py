"""One `qn-bot run` per SQLite database: an OS file lock next to the database file.

Two bot processes on one SQLite file would each release the other's outbox leases at start and
send replies twice. The lock is ``flock`` on ``<database>.lock``, held for the life of the
process: the kernel releases it when the process ends, even by SIGKILL, so a crash never leaves
a stale lock behind (a row in the database would). The file is never deleted: removing it while
another process opens it would let two processes each lock a different file.

PostgreSQL allows several processes (they coordinate through advisory locks, see
:mod:`qn_bot.leadership`); `qn-bot chat` and the one-shot commands take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from qn_bot.errors import DatabaseError, DatabaseInUse
from qn_bot.store.database import async_url, check_url, sqlite_path


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextlib.contextmanager
def single_process(url: str) -> Iterator[Path | None]:
    """Hold the database's process lock (SQLite files only); yields the lock file's path.

    Raises :class:`DatabaseInUse` at once when another process holds it.
    """
    check_url(make_url(async_url(url)))  # a missing folder is said as such, not as a lock file
    database = sqlite_path(url)
    if database is None:
        yield None
        return
    path = lock_path(database)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise DatabaseError(f"cannot create the lock file {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise DatabaseInUse(
                f"another `qn-bot run`{by} is already serving the database {database}: one "
                "process per SQLite database (several processes need PostgreSQL)"
            ) from None
        # For the operator reading the message above; the lock itself is what counts.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
