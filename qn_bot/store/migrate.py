"""Applying the Alembic migrations from code (`qn-bot db upgrade`, and at every `run`)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from qn_bot.store.database import async_url, create_engine, database_errors


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
