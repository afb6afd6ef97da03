"""SQLAlchemy's aiosqlite adapter with one thread hand-over per statement instead of four.

aiosqlite runs each sqlite3 call in its own thread and SQLAlchemy's adapter makes one call per
cursor step: open the cursor, execute, fetch the rows, close — four hand-overs to the thread and
back to the event loop, each a wake-up on both sides (measured: a transaction of one SELECT cost
0.74 ms of CPU, of which nine hand-overs ~0.36 ms; under load each also waits for the event loop
to come round). Here a statement is one function run in aiosqlite's thread: the sqlite3 cursor
is opened, executed, read and closed there, and its description, row count and last row id come
back with the rows.

This leans on two details of the libraries, pinned by the tests (every store test runs on it):
SQLAlchemy's ``AsyncAdapt_aiosqlite_*`` classes (``sqlalchemy.dialects.sqlite.aiosqlite``) and
aiosqlite's ``Connection._execute`` / ``_conn`` (run a function in the connection's thread, the
sqlite3 connection it owns). Server-side cursors (``stream``) keep SQLAlchemy's own path.
"""

from __future__ import annotations

import collections
import sqlite3
from dataclasses import dataclass
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


@dataclass(slots=True)
class _Done:
    """What a finished sqlite3 cursor leaves: SQLAlchemy reads these after ``execute``."""

    description: Any = None
    rowcount: int = -1
    lastrowid: int | None = None
    arraysize: int = 1

    def close(self) -> None:
        pass


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[_Done, list[Any] | None]:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return _Done(description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor (opening one is a hand-over): each statement opens its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = cast(Any, _Done())
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> Any:
        connection = cast(aiosqlite.Connection, self._connection)
        async with self._adapt_connection._execute_mutex:
            done, rows = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, operation, parameters, many
            )
        self._cursor = cast(Any, done)
        if rows is not None:
            self._rows = collections.deque(rows)
        return None

    async def _async_soft_close(self) -> None:
        pass

    def close(self) -> None:
        self._rows.clear()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """Pass as ``module=`` to ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        creator = kw.pop("async_creator_fn", None)
        if creator is not None:
            connection = creator(*arg, **kw)
        else:
            connection = aiosqlite.connect(*arg, **kw)
            connection._thread.daemon = True  # as SQLAlchemy's: never keeps the process alive
        return OneHopConnection(self, await_(connection))
