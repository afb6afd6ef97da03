"""The Alembic migrations create exactly the schema the code uses."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, column, insert, inspect, select, table, update
from sqlalchemy.exc import IntegrityError

from qn_bot.domain import Address, OutboundMessage
from qn_bot.store import schema as t
from qn_bot.store.database import create_engine
from qn_bot.store.migrate import alembic_config, upgrade
from qn_bot.store.rows import message_key
from qn_bot.store.schema import metadata, participants
from qn_bot.store.sql import Store
from tests.conftest import T0


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


async def test_erasure_migration_hashes_keys_and_keeps_outbox_ids_on_every_backend(
    database_url: str,
) -> None:
    """0007 on a database at 0004 holding data: message keys become digests, Matrix's per-user
    kv rows go or become rows about their user, the outbox's ids never come back (SQLite
    rebuilds the table); down to 0004 and up again."""
    await upgrade(database_url, "0004")
    # The tables as they were at 0004 (the current schema has columns they lack).
    keys = table(
        "processed_messages",
        column("platform"),
        column("message_id"),
        column("processed_at", t.UTCDateTime()),
    )
    outbox = table(
        "outbox",
        *(column(name) for name in ("platform", "chat_id", "status", "attempts")),
        column("payload", t.JSONType),
        column("next_attempt_at", t.UTCDateTime()),
        column("created_at", t.UTCDateTime()),
    )
    kv = table(
        "kv", column("key"), column("value", t.JSONType), column("updated_at", t.UTCDateTime())
    )
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(keys).values(platform="telegram", message_id="913572468:41", processed_at=T0)
            )
            for n in (1, 2, 3):
                await connection.execute(
                    insert(outbox).values(
                        platform="test",
                        chat_id="c",
                        status="sent",
                        attempts=1,
                        payload=OutboundMessage(f"m{n}").to_json(),
                        next_attempt_at=T0,
                        created_at=T0,
                    )
                )
            # The last id: SQLite must not hand it out again after rebuilding the table.
            await connection.exec_driver_sql("DELETE FROM outbox WHERE id = 3")
            for key, value in (
                ("adapter:matrix:dm:@zephyrine:example.org", "!room:example.org"),
                (
                    "adapter:matrix:pending_dms",
                    {"!dm:example.org": {"user": "@zephyrine:example.org", "event_id": "$e"}},
                ),
                ("adapter:matrix:sync_token", "s42"),
            ):
                await connection.execute(insert(kv).values(key=key, value=value, updated_at=T0))
    finally:
        await engine.dispose()

    await upgrade(database_url)
    async with Store.from_url(database_url) as store:
        async with store.transaction() as tx:
            keys = (await tx.conn.execute(select(t.processed_messages.c.message_id))).scalars()
            assert list(keys) == [message_key("913572468:41")]
            assert await tx.idempotency.claim_message("telegram", "913572468:41", T0) is False
            rows = (await tx.conn.execute(select(t.kv.c.key, t.kv.c.subject))).all()
            assert sorted(map(tuple, rows)) == [
                ("adapter:matrix:pending_dm:!dm:example.org", "matrix:@zephyrine:example.org"),
                ("adapter:matrix:sync_token", None),
            ]
            new = await tx.outbox.enqueue(Address("test", "c"), OutboundMessage("m4"), T0)
            assert new == 4
        engine = store.engine

        def check(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(check) == []

        def downgrade(connection: Connection) -> None:
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")

        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            pending = (
                await connection.execute(
                    select(kv.c.value).where(kv.c.key == "adapter:matrix:pending_dms")
                )
            ).scalar_one()
            assert pending == {
                "!dm:example.org": {"user": "@zephyrine:example.org", "event_id": "$e"}
            }
    await upgrade(database_url)


async def test_an_older_sqlite_file_switches_to_incremental_vacuum(tmp_path: Path) -> None:
    """A file made before qn-bot asked for incremental auto-vacuum gets it at `db upgrade` (one
    VACUUM): the retention purge can then give free pages back to the file system."""
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA auto_vacuum=NONE")
        conn.execute("CREATE TABLE scratch (data TEXT)")
        conn.executemany("INSERT INTO scratch VALUES (?)", [("x" * 1000,)] * 500)
        conn.execute("DELETE FROM scratch")
        conn.commit()
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (0,)
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 100
    await upgrade(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)
        assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)
    await upgrade(f"sqlite:///{path}")  # a second run has nothing to do


async def test_moderation_upgrades_and_downgrades_on_every_backend(database_url: str) -> None:
    """0009: existing campaigns are post-moderated, the moderation tables come and go."""
    await upgrade(database_url, "0008")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                "INSERT INTO campaigns (slug, title, flow_id, flow_version, flow_source, status,"
                " created_at, updated_at) VALUES ('vieille', 'V', 'f', 1, '', 'open',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
    finally:
        await engine.dispose()
    await upgrade(database_url)
    engine = create_engine(database_url)

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    def downgrade(connection: Connection) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")

    moderation = {"item_moderation", "item_flags", "moderation_log"}
    try:
        async with engine.connect() as connection:
            found = await connection.exec_driver_sql("SELECT moderation FROM campaigns")
            assert found.scalar_one() == "post"
            assert moderation <= await connection.run_sync(tables)
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            assert not moderation & await connection.run_sync(tables)
    finally:
        await engine.dispose()
    await upgrade(database_url)  # and up again


async def test_votes_upgrade_and_downgrade_on_every_backend(database_url: str) -> None:
    """0010 adds the votes and the opinion groups, matching the schema; and takes them away."""
    await upgrade(database_url, "0009")
    await upgrade(database_url)
    engine = create_engine(database_url)

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    def downgrade(connection: Connection) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")

    try:
        async with engine.connect() as connection:
            assert {"votes", "opinion_groups"} <= await connection.run_sync(tables)
            assert await connection.run_sync(diff) == []
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            assert not {"votes", "opinion_groups"} & await connection.run_sync(tables)
    finally:
        await engine.dispose()
    await upgrade(database_url)  # and up again


async def test_transcripts_upgrade_and_downgrade_on_every_backend(database_url: str) -> None:
    """0012 adds the web chat's transcripts table; down to 0011 takes it away; and up again."""
    await upgrade(database_url)
    engine = create_engine(database_url)

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    def downgrade(connection: Connection) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")

    try:
        async with engine.connect() as connection:
            assert "transcripts" in await connection.run_sync(tables)
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            assert "transcripts" not in await connection.run_sync(tables)
    finally:
        await engine.dispose()
    await upgrade(database_url)  # and up again


async def test_deferred_reminders_upgrade_and_downgrade_on_every_backend(database_url: str) -> None:
    """0013 adds "not before" and the reminder's session to outbox rows, the last reminder's
    time to sessions, and the column to the pending heads' index; down to 0012 takes them
    away, keeping the rows, their ids and the partial indexes; and up again."""
    await upgrade(database_url, "0012")
    engine = create_engine(database_url)
    now = "2026-01-01 00:00:00"
    try:
        async with engine.begin() as connection:
            for n in (1, 2):
                await connection.exec_driver_sql(
                    "INSERT INTO outbox (platform, chat_id, payload, status, attempts,"
                    f" next_attempt_at, created_at) VALUES ('test', 'c{n}', '{{}}', 'pending', 0,"
                    f" '{now}', '{now}')"
                )
            await connection.exec_driver_sql("DELETE FROM outbox WHERE chat_id = 'c2'")
    finally:
        await engine.dispose()
    await upgrade(database_url)
    engine = create_engine(database_url)

    def shape(connection: Connection) -> dict[str, object]:
        inspector = inspect(connection)
        heads = [
            i for i in inspector.get_indexes("outbox") if i["name"] == "ix_outbox_pending_heads"
        ]
        return {
            "outbox": {str(c["name"]) for c in inspector.get_columns("outbox")},
            "sessions": {str(c["name"]) for c in inspector.get_columns("sessions")},
            "heads": [list(i["column_names"]) for i in heads],
            "indexes": {str(i["name"]) for i in inspector.get_indexes("outbox")},
        }

    def downgrade(connection: Connection) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")

    try:
        async with engine.connect() as connection:
            up = await connection.run_sync(shape)
        assert {"not_before", "mid_flow_session_id"} <= up["outbox"]  # type: ignore[operator]
        assert "last_reminded_at" in up["sessions"]  # type: ignore[operator]
        assert up["heads"] == [["platform", "chat_id", "id", "not_before"]]
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            down = await connection.run_sync(shape)
            ids = (await connection.exec_driver_sql("SELECT id FROM outbox")).scalars().all()
        assert not {"not_before", "mid_flow_session_id"} & down["outbox"]  # type: ignore[operator]
        assert "last_reminded_at" not in down["sessions"]  # type: ignore[operator]
        assert down["heads"] == [["platform", "chat_id", "id"]]
        assert {"ix_outbox_pending_heads", "ix_outbox_kept_payloads"} <= down["indexes"]  # type: ignore[operator]
        assert list(ids) == [1]
    finally:
        await engine.dispose()
    await upgrade(database_url)  # and up again
    store = Store.from_url(database_url)
    try:
        async with store.transaction() as tx:
            fresh = await tx.outbox.enqueue(Address("test", "c3"), OutboundMessage("x"), T0)
    finally:
        await store.close()
    assert fresh == 3  # an id used before the downgrade never comes back


async def test_theme_weeks_upgrade_and_downgrade_on_every_backend(database_url: str) -> None:
    """0014 adds the kept weekly themes and their labels' items, matching the schema; down to
    0013 takes them away; and up again."""
    await upgrade(database_url, "0012")
    await upgrade(database_url)
    engine = create_engine(database_url)
    kept = {"theme_weeks", "theme_label_items"}

    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    def downgrade(connection: Connection) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")

    try:
        async with engine.connect() as connection:
            assert kept <= await connection.run_sync(tables)
            assert await connection.run_sync(diff) == []
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            assert not kept & await connection.run_sync(tables)
    finally:
        await engine.dispose()
    await upgrade(database_url)  # and up again
