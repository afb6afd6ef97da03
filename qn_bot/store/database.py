"""Opening the database: URL normalisation, SQLite pragmas and write-safe transactions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from qn_bot.errors import (
    ConfigError,
    DatabaseBusy,
    DatabaseError,
    DatabaseUnavailable,
)
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
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise ConfigError(
            "[database] url: not a database URL (sqlite:///FILE or postgresql://…)"
        ) from None
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


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite database; None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def describe(url: str | URL) -> str:
    """The database as error messages name it: a file, or a server without its password."""
    parsed = make_url(url) if isinstance(url, str) else url
    path = sqlite_path(parsed)
    if path is not None:
        return str(path)
    host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return f"{parsed.get_backend_name()} database {parsed.database or ''!r} on {host}"


def check_url(parsed: URL) -> None:
    """What would otherwise surface as a traceback at the first connection."""
    try:
        dialect = parsed.get_dialect()
        dialect.import_dbapi()
    except sa_exc.NoSuchModuleError as exc:
        raise ConfigError(f"[database] url: unknown database kind {parsed.drivername!r}") from exc
    except ImportError as exc:
        missing = exc.name or parsed.get_driver_name()
        raise ConfigError(
            f"[database] url: the driver {parsed.get_driver_name()!r} of {parsed.drivername!r} "
            f"is not installed (missing Python module {missing!r}); use postgresql:// "
            "(asyncpg, installed with qn-bot) or install the driver"
        ) from None
    if not dialect.is_async:
        raise ConfigError(
            f"[database] url: the driver {parsed.get_driver_name()!r} is not asynchronous; "
            "write postgresql:// or sqlite:/// and qn-bot picks its own"
        )
    path = sqlite_path(parsed)
    if path is not None and not path.parent.is_dir():
        raise ConfigError(
            f"[database] url: the folder {path.parent} of the SQLite database does not exist"
        )


#: SQLSTATEs of a PostgreSQL that cannot answer now but will: a connection lost (08), the server
#: starting up, shutting down or restarting (57P), out of connections or other resources (53),
#: a transaction to run again (serialization failure, deadlock). What met one is tried again.
PG_TRY_AGAIN = ("08", "57P", "53", "40001", "40P01")
#: Refused at the door for good: wrong password or role (28), unknown database (3D000).
PG_REFUSED = ("28", "3D000")


def translate_error(exc: BaseException, url: str | URL) -> DatabaseError | None:
    """A driver's error as one of ours when it says the database cannot be used (locked,
    unreachable, refused); None for errors that are bugs or bad data."""
    if isinstance(exc, DatabaseError):
        return exc
    where = describe(url)
    original = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    text = (
        str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    )
    if isinstance(exc, sa_exc.OperationalError) and "database is locked" in text:
        return DatabaseBusy(f"the database {where} is locked by another process")
    if isinstance(exc, sa_exc.OperationalError) and "unable to open database file" in text:
        return DatabaseError(f"cannot open the SQLite database {where} (missing folder or rights)")
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable(f"lost the connection to {where}: {text}")
    if isinstance(original, OSError):
        return DatabaseUnavailable(f"cannot reach {where}: {original.strerror or text}")
    # PostgreSQL says why in its SQLSTATE (SQLAlchemy's wrapper of the driver's error carries
    # it; the driver's own error is the wrapper's cause).
    driver = original.__cause__ if original is not None else None
    state = getattr(original, "sqlstate", None) or getattr(driver, "sqlstate", None)
    if isinstance(state, str):
        if state.startswith(PG_TRY_AGAIN):
            return DatabaseUnavailable(f"{where} cannot answer now: {text}")
        if state.startswith(PG_REFUSED):
            return DatabaseError(f"{where}: {text}")
    return None


@contextlib.asynccontextmanager
async def database_errors(url: str | URL) -> AsyncIterator[None]:
    """Raise :func:`translate_error`'s error in place of the driver's, when there is one."""
    try:
        yield
    except (sa_exc.DBAPIError, OSError) as exc:
        ours = translate_error(exc, url)
        if ours is None:
            raise
        raise ours from exc


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
    check_url(make_url(url))
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
