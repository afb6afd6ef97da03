"""The Alembic migrations create exactly the schema the code uses."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from qn_bot.store.database import create_engine
from qn_bot.store.migrate import upgrade
from qn_bot.store.schema import metadata


async def test_migrations_match_schema_and_are_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    await upgrade(url)
    await upgrade(url)  # a second run changes nothing and does not fail
    engine = create_engine(url)

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
            mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            assert mode == "wal"
    finally:
        await engine.dispose()
