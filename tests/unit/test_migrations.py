"""The Alembic migrations create exactly the schema the code uses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from qn_bot.store.database import create_engine
from qn_bot.store.migrate import alembic_config, upgrade
from qn_bot.store.schema import metadata, participants


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


async def test_items_index_upgrades_and_downgrades_on_every_backend(database_url: str) -> None:
    """0003 replaces the items' campaign index by the digest's covering one, on a database
    already at 0002, and back; the result matches the schema on SQLite and PostgreSQL."""
    await upgrade(database_url, "0002")
    await upgrade(database_url)
    engine = create_engine(database_url)

    def check(connection: Connection) -> tuple[list[object], set[str]]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        indexes = {i["name"] for i in inspect(connection).get_indexes("items")}
        return list(compare_metadata(context, metadata)), {str(n) for n in indexes}

    def downgrade(connection: Connection) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")

    try:
        async with engine.connect() as connection:
            diff, indexes = await connection.run_sync(check)
            assert diff == []
            assert "ix_items_campaign_step_live" in indexes
            assert "ix_items_campaign_step" not in indexes
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            _, indexes = await connection.run_sync(check)
            assert "ix_items_campaign_step" in indexes
            assert "ix_items_campaign_step_live" not in indexes
    finally:
        await engine.dispose()
    await upgrade(database_url)  # and up again


async def test_campaign_threshold_upgrades_and_downgrades_on_every_backend(
    database_url: str,
) -> None:
    """0005 gives every campaign, old ones included, an anonymity threshold of 5; and back."""
    await upgrade(database_url, "0004")
    engine = create_engine(database_url)
    now = "2026-01-01 00:00:00"
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                "INSERT INTO campaigns (slug, title, flow_id, flow_version, flow_source, status,"
                f" created_at, updated_at) VALUES ('vieille', 'V', 'f', 1, '', 'open', '{now}',"
                f" '{now}')"
            )
    finally:
        await engine.dispose()
    await upgrade(database_url)
    engine = create_engine(database_url)

    def columns(connection: Connection) -> set[str]:
        return {str(c["name"]) for c in inspect(connection).get_columns("campaigns")}

    def downgrade(connection: Connection) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")

    try:
        async with engine.connect() as connection:
            found = await connection.exec_driver_sql(
                "SELECT min_respondents FROM campaigns WHERE slug = 'vieille'"
            )
            assert found.scalar_one() == 5
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            assert "min_respondents" not in await connection.run_sync(columns)
    finally:
        await engine.dispose()
    await upgrade(database_url)  # and up again


async def test_signature_keys_upgrade_and_downgrade_on_every_backend(database_url: str) -> None:
    """0006 keys the signatures already stored: the first signer of a name keeps it, later
    look-alikes and pseudonym-shaped signatures become anonymous; then the index holds."""
    await upgrade(database_url, "0004")
    engine = create_engine(database_url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    signatures = ["Ana Lopez", "ana LÓPEZ", "P-0001", "Ben", None, "\u0410NA lopez"]
    try:
        async with engine.begin() as conn:
            for n, signature in enumerate(signatures, start=1):
                await conn.execute(
                    insert(participants).values(
                        id=n,
                        platform="test",
                        platform_user_id=f"u{n}",
                        pseudonym=f"P-{n:04d}",
                        signature=signature,
                        reply_chat_id=f"c{n}",
                        stopped=False,
                        unreachable=False,
                        created_at=now,
                        updated_at=now,
                    )
                )
        await upgrade(database_url)

        def check(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        async with engine.connect() as conn:
            assert await conn.run_sync(check) == []
            found = (
                await conn.execute(
                    select(participants.c.signature, participants.c.signature_key).order_by(
                        participants.c.id
                    )
                )
            ).all()
        assert [s for s, _ in found] == ["Ana Lopez", None, None, "Ben", None, None]
        assert [k is not None for _, k in found] == [True, False, False, True, False, False]
        async with engine.begin() as conn:
            with pytest.raises(IntegrityError):
                async with conn.begin_nested():
                    await conn.execute(
                        update(participants)
                        .where(participants.c.id == 2)
                        .values(signature_key=found[0][1])
                    )

        def downgrade(connection: Connection) -> None:
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")

        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("participants")}
            )
        assert "signature_key" not in columns
        assert "signature" in columns
    finally:
        await engine.dispose()
    await upgrade(database_url)
