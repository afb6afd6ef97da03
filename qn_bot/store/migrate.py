"""Applying the Alembic migrations from code (`qn-bot db upgrade`, and at every `run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from importlib.util import find_spec
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, make_url

from qn_bot.store.database import async_url, create_engine, database_errors, is_sqlite

log = logging.getLogger(__name__)

#: SQLite's `PRAGMA auto_vacuum` value for INCREMENTAL.
_INCREMENTAL = 2


def alembic_config(url: str) -> Config:
    config = Config()
    # migrations/ is installed as qn_bot.migrations (see pyproject.toml's package-dir).
    spec = find_spec("qn_bot.migrations")
    if spec is None or spec.origin is None:
        raise RuntimeError("qn-bot is not installed: run `make install` (pip install -e .)")
    config.set_main_option("script_location", str(Path(spec.origin).parent))
    # ConfigParser interpolation would choke on a "%" in a password.
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    config = alembic_config(url)
    engine = create_engine(url)

    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    try:
        async with database_errors(engine.url), engine.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            await asyncio.to_thread(_incremental_vacuum_mode, Path(database))


def _incremental_vacuum_mode(path: Path) -> None:
    """A file created before qn-bot asked for incremental auto-vacuum switches to it with one
    VACUUM (the only way SQLite changes that mode). The VACUUM also rewrites the whole file:
    free pages left by erasures made before secure_delete was on disappear with it."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL:
            return
        log.info("switching %s to incremental auto-vacuum: one VACUUM, it may take a while", path)
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
        # The WAL holds the old pages until a checkpoint; nothing of them should stay there.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
