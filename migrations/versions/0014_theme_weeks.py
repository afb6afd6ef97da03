"""theme_weeks, theme_label_items: each completed week's themes kept (issue 14 §4)

A theme keeps its identity across the campaign's weeks (the digest's trends and its chart of the
top themes over the weeks read them back instead of grouping past weeks again); a kept label is
checked against the items whose words make it, so that erasure never leaves one citizen's words
in it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qn_bot.store.schema import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "theme_weeks",
        sa.Column("id", _ID, primary_key=True, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("period_start", UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", UTCDateTime(timezone=True), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("origin_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "parents", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("stale", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("centroid", sa.LargeBinary(), nullable=False),
        sa.Column("made_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_theme_weeks_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_theme_weeks")),
        sa.UniqueConstraint(
            "campaign_id",
            "step_id",
            "period_start",
            "period_end",
            "rank",
            name=op.f("uq_theme_weeks_campaign_id_step_id_period_start_period_end_rank"),
        ),
    )
    op.create_table(
        "theme_label_items",
        sa.Column("theme_id", _ID, nullable=False),
        sa.Column("item_id", _ID, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["theme_id"],
            ["theme_weeks.id"],
            name=op.f("fk_theme_label_items_theme_id_theme_weeks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_theme_label_items_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("theme_id", "item_id", name=op.f("pk_theme_label_items")),
    )
    op.create_index("ix_theme_label_items_item", "theme_label_items", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_theme_label_items_item", table_name="theme_label_items")
    op.drop_table("theme_label_items")
    op.drop_table("theme_weeks")
