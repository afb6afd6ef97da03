"""0008 adds participants.pending_since, on a database already in use, and takes it away."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, select

from qn_bot.domain import Address, UserRef
from qn_bot.store import schema as t
from qn_bot.store.database import create_engine
from qn_bot.store.migrate import alembic_config, upgrade
from qn_bot.store.schema import metadata
from qn_bot.store.sql import Store

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


async def test_pending_since_upgrades_and_downgrades_on_every_backend(database_url: str) -> None:
    await upgrade(database_url, "0004")
    engine = create_engine(database_url)

    def columns(connection: Connection) -> set[str]:
        return {str(c["name"]) for c in inspect(connection).get_columns("participants")}

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    def downgrade(connection: Connection) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")

    try:
        async with engine.connect() as connection:
            assert "pending_since" not in await connection.run_sync(columns)
        await upgrade(database_url)
        async with engine.connect() as connection:
            assert "pending_since" in await connection.run_sync(columns)
            assert await connection.run_sync(diff) == []
        # The store sets it with the pending action and clears it with it.
        store = Store.from_url(database_url)
        try:
            async with store.transaction() as tx:
                p = await tx.participants.create_participant(
                    UserRef("test", "a"), Address("test", "a"), NOW, language=None
                )
                assert p.pending_since is None
                await tx.participants.update_participant(p.id, NOW, pending_action="forget")
                again = await tx.participants.participant_by_id(p.id)
                assert again is not None
                assert (again.pending_action, again.pending_since) == ("forget", NOW)
                await tx.participants.update_participant(p.id, NOW, pending_action=None)
                row = (await tx.conn.execute(select(t.participants.c.pending_since))).one()
                assert row.pending_since is None
        finally:
            await store.close()
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            assert "pending_since" not in await connection.run_sync(columns)
    finally:
        await engine.dispose()
    await upgrade(database_url)  # and up again
