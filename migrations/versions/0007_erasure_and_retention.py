"""erasure and retention: hashed message keys, purgeable outbox payloads, kv rows about someone

- ``processed_messages.message_id`` holds a digest of the platform's message id (Telegram's
  embed the chat id, which is the user id in a private chat): existing keys are hashed here. An
  index on ``processed_at`` lets the retention purge delete old keys by age.
- ``outbox.payload`` may be NULL: what was sent keeps no content. ``forget_after_send`` marks a
  message to someone erased since (the goodbye of /oublier). ``ix_outbox_kept_payloads`` holds
  the sent rows that still keep their content, for the purge.
- ``kv.subject`` names whom a row of adapter state is about: /oublier erases it with them.
  Matrix's ``dm:<user id>`` rows (a cache, keyed by the user id itself) are dropped, and its
  ``pending_dms`` map becomes one row per room, about its user.

Downgrade: message keys cannot be turned back into platform ids, so they are dropped (a message
redelivered just after the downgrade would be handled again); purged payloads become empty
messages.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-04
"""

import hashlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending'")
_KEPT = sa.text("status <> 'pending' AND payload IS NOT NULL")
_EMPTY = {"text": "", "buttons": [], "attachments": []}
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_MATRIX = "adapter:matrix:"
_BATCH = 1000


def _key(message_id: str) -> str:
    # The same digest as qn_bot.store.sql.message_key (a migration keeps its own copy).
    return hashlib.blake2b(message_id.encode(), digest_size=16).hexdigest()


def _kv() -> sa.TableClause:
    return sa.table(
        "kv",
        sa.column("key", sa.String()),
        sa.column("value", _JSON),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("subject", sa.String()),
    )


def _outbox_sequence(bind: sa.Connection) -> int | None:
    if bind.dialect.name != "sqlite":
        return None
    return bind.execute(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
    ).scalar_one_or_none()


def _keep_sequence(bind: sa.Connection, seq: int | None) -> None:
    """Rebuilding the table (batch mode) resets SQLite's AUTOINCREMENT to the highest id left:
    an id used before could come back, and Matrix derives idempotent transaction ids from it."""
    if seq is None:
        return
    params = {"seq": seq}
    updated = bind.execute(
        sa.text("UPDATE sqlite_sequence SET seq = MAX(seq, :seq) WHERE name = 'outbox'"), params
    )
    if not updated.rowcount:
        bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', :seq)"), params)


def _outbox(*, downgrade: bool) -> None:
    """The outbox's changes; on SQLite the table is rebuilt once, keeping AUTOINCREMENT."""
    bind = op.get_bind()
    seq = _outbox_sequence(bind)
    sqlite = {"table_kwargs": {"sqlite_autoincrement": True}}
    with op.batch_alter_table("outbox", **sqlite) as batch:
        # Partial indexes are dropped and made again: a rebuild would lose their condition.
        batch.drop_index("ix_outbox_pending_heads")
        if downgrade:
            batch.drop_index("ix_outbox_kept_payloads")
            batch.drop_column("forget_after_send")
        else:
            batch.add_column(
                sa.Column(
                    "forget_after_send", sa.Boolean(), server_default=sa.false(), nullable=False
                )
            )
        batch.alter_column("payload", existing_type=_JSON, nullable=not downgrade)
    with op.batch_alter_table("outbox", **sqlite) as batch:
        batch.create_index(
            "ix_outbox_pending_heads",
            ["platform", "chat_id", "id"],
            unique=False,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        )
        if not downgrade:
            batch.create_index(
                "ix_outbox_kept_payloads",
                ["next_attempt_at"],
                unique=False,
                sqlite_where=_KEPT,
                postgresql_where=_KEPT,
            )
    _keep_sequence(bind, seq)


def upgrade() -> None:
    bind = op.get_bind()
    keys = sa.table("processed_messages", sa.column("platform"), sa.column("message_id"))
    rows = bind.execute(sa.select(keys.c.platform, keys.c.message_id)).all()
    update = (
        sa.update(keys)
        .where(keys.c.platform == sa.bindparam("p"), keys.c.message_id == sa.bindparam("m"))
        .values(message_id=sa.bindparam("h"))
    )
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        bind.execute(update, [{"p": p, "m": m, "h": _key(m)} for p, m in chunk])
    with op.batch_alter_table("processed_messages") as batch:
        batch.create_index("ix_processed_messages_processed_at", ["processed_at"], unique=False)

    _outbox(downgrade=False)

    with op.batch_alter_table("kv") as batch:
        batch.add_column(sa.Column("subject", sa.String(length=300), nullable=True))
        batch.create_index("ix_kv_subject", ["subject"], unique=False)
    kv = _kv()
    bind.execute(sa.delete(kv).where(kv.c.key.like(f"{_MATRIX}dm:%")))
    found = bind.execute(
        sa.select(kv.c.value, kv.c.updated_at).where(kv.c.key == f"{_MATRIX}pending_dms")
    ).first()
    if found is not None:
        pending: dict[str, Any] = found.value if isinstance(found.value, dict) else {}
        for room, entry in pending.items():
            bind.execute(
                sa.insert(kv).values(
                    key=f"{_MATRIX}pending_dm:{room}",
                    value=entry,
                    updated_at=found.updated_at,
                    subject=f"matrix:{entry.get('user', '')}",
                )
            )
        bind.execute(sa.delete(kv).where(kv.c.key == f"{_MATRIX}pending_dms"))


def downgrade() -> None:
    bind = op.get_bind()
    kv = _kv()
    rows = bind.execute(
        sa.select(kv.c.key, kv.c.value, kv.c.updated_at).where(
            kv.c.key.like(f"{_MATRIX}pending_dm:%")
        )
    ).all()
    if rows:
        bind.execute(sa.delete(kv).where(kv.c.key.like(f"{_MATRIX}pending_dm:%")))
        bind.execute(
            sa.insert(kv).values(
                key=f"{_MATRIX}pending_dms",
                value={row.key.removeprefix(f"{_MATRIX}pending_dm:"): row.value for row in rows},
                updated_at=max(row.updated_at for row in rows),
            )
        )
    with op.batch_alter_table("kv") as batch:
        batch.drop_index("ix_kv_subject")
        batch.drop_column("subject")

    outbox = sa.table("outbox", sa.column("payload", _JSON))
    bind.execute(sa.update(outbox).where(outbox.c.payload.is_(None)).values(payload=_EMPTY))
    _outbox(downgrade=True)

    with op.batch_alter_table("processed_messages") as batch:
        batch.drop_index("ix_processed_messages_processed_at")
    bind.execute(sa.delete(sa.table("processed_messages")))
