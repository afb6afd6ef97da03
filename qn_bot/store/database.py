"""Opening the database: URL normalisation, SQLite pragmas and write-safe transactions."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from qn_bot.store.sqlite_driver import OneHopDBAPI

#: Execution option marking a connection whose transactions only read.
READ_ONLY = "qn_bot_read_only"

SQLITE_PRAGMAS = (
    # Free pages go back to the file system on `PRAGMA incremental_vacuum` (the retention purge
    # runs it). Takes effect when the file is created; an older one needs a VACUUM
    # (qn_bot.store.migrate does it once).
    "PRAGMA auto_vacuum=INCREMENTAL",
    "PRAGMA journal_mode=WAL",
    # Deleted content is overwritten with zeros, freed pages too: an erased citizen's words do
    # not linger in the file's free space (the WAL: see Store.scrub).
    "PRAGMA secure_delete=ON",
    # Durable commits: an answer the bot acknowledged survives a power cut, not only a crash
    # (NORMAL may lose the last transactions). Group commit pays the fsync once per batch.
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)


def async_url(url: str) -> str:
    """Accept the URLs people write (sqlite:///x.db, postgresql://…) and pick the async driver."""
    parsed = make_url(url)
    driver = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }
    if parsed.drivername in driver:
        parsed = parsed.set(drivername=driver[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_loads(value: str | bytes | int | float) -> Any:
    # SQLite gives a JSON column numeric affinity: a stored "41" comes back as the number 41.
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


#: Session states, outbox payloads and item values are JSON; orjson reads and writes them in a
#: fraction of the json module's time (profiled: a state decoded and re-encoded per answer).
JSON_CODEC: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    url = async_url(url)
    # A failed statement's error (logged with the message that failed) must not carry its
    # values: user ids, answers.
    private = {"hide_parameters": True}
    if is_sqlite(url):
        # Pooled: opening an aiosqlite connection (a thread, four pragmas) cost ~0.15 ms of CPU
        # per message when every transaction opened its own (profiled). Our writers take turns
        # on the store's lock, so a few connections are plenty.
        engine = create_async_engine(
            url, pool_size=2, max_overflow=2, module=OneHopDBAPI(), **private, **JSON_CODEC
        )
        _make_sqlite_transactions_safe(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        **private,
        **JSON_CODEC,
    )


def _make_sqlite_transactions_safe(engine: AsyncEngine) -> None:
    """BEGIN IMMEDIATE for every transaction.

    pysqlite's default deferred transactions lose updates or fail with "database is locked" when
    two writers read then write (measured: 11 of 200 updates kept). Taking the write lock at BEGIN
    makes the second writer wait (busy_timeout) instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A read-only snapshot (Store.snapshot) begins deferred: in WAL mode it then never
        # takes the write lock, and writers go on while it reads.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
