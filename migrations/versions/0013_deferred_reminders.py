"""deferred reminders: a "not before" time on outbox rows, reminders tied to their session

- ``outbox.not_before``: a reminder that falls in a citizen's quiet hours is queued now and goes
  when they end; until then it stays out of its chat's order (qn_bot.store.outbox), so the
  citizen's other messages are not held back behind it. ``ix_outbox_pending_heads`` gains the
  column, so that the claim's search for each chat's head still reads the index alone.
- ``outbox.mid_flow_session_id``: the session a reminder is about; a reminder whose session is
  finished, whose citizen said /stop or whose campaign closed is cancelled instead of sent.
- ``sessions.last_reminded_at``: when the last reminder went or will go, so that /relancer and
  the scheduler's pass never send two within the hour.

Downgrade: a deferred reminder still waiting goes at once, and unchecked.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qn_bot.store.schema import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending'")
_KEPT = sa.text("status <> 'pending' AND payload IS NOT NULL")


def _heads_index(columns: list[str]) -> None:
    op.create_index(
        "ix_outbox_pending_heads",
        "outbox",
        columns,
        unique=False,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_reminded_at", UTCDateTime(timezone=True)))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", UTCDateTime(timezone=True)))
        batch_op.add_column(sa.Column("mid_flow_session_id", sa.Integer()))
    op.drop_index("ix_outbox_pending_heads", table_name="outbox")
    _heads_index(["platform", "chat_id", "id", "not_before"])


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
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', :seq)"), params
        )


def downgrade() -> None:
    bind = op.get_bind()
    seq = _outbox_sequence(bind)
    # Partial indexes are dropped and made again: SQLite's rebuild of the table would lose
    # their condition.
    op.drop_index("ix_outbox_pending_heads", table_name="outbox")
    op.drop_index("ix_outbox_kept_payloads", table_name="outbox")
    with op.batch_alter_table("outbox", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("mid_flow_session_id")
        batch_op.drop_column("not_before")
    _heads_index(["platform", "chat_id", "id"])
    op.create_index(
        "ix_outbox_kept_payloads",
        "outbox",
        ["next_attempt_at"],
        unique=False,
        sqlite_where=_KEPT,
        postgresql_where=_KEPT,
    )
    _keep_sequence(bind, seq)
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("last_reminded_at")
