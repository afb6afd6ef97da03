"""transcripts: the web chat's conversation, one row per message (issue 17)

Was one JSON record per citizen in kv, read and rewritten whole for every message: at 1,000
citizens that write, and the re-read of every event stream, were the reply path's cost. The old
records are left in kv, where the retention purge takes them (adapter state untouched for
[retention] adapter_state_days); a page opened after the upgrade starts an empty transcript.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qn_bot.store.schema import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_transcripts_subject_id", "transcripts", ["subject", "id"])
    op.create_index(
        "ux_transcripts_subject_client", "transcripts", ["subject", "client_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_transcripts_subject_client", table_name="transcripts")
    op.drop_index("ix_transcripts_subject_id", table_name="transcripts")
    op.drop_table("transcripts")
