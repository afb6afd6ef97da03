"""outbox: an index of the pending messages only, by chat

Finding each chat's oldest pending message (the outbox's claim) walked ``ix_outbox_chat``
(platform, chat_id, status) over every message the platform ever had, sent ones included: each
claim grew with the bot's history (measured: 3,400 sent rows in a benchmark run; a campaign
sends hundreds of thousands). A partial index holds only the pending rows, so a claim reads what
is waiting and nothing else. It replaces ``ix_outbox_chat``: every query by chat asks for the
pending rows, and SQLite without statistics kept choosing the old index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending_heads",
            ["platform", "chat_id", "id"],
            unique=False,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        )
        batch_op.drop_index("ix_outbox_chat")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_chat", ["platform", "chat_id", "status"], unique=False)
        batch_op.drop_index(
            "ix_outbox_pending_heads", sqlite_where=_PENDING, postgresql_where=_PENDING
        )
