"""moderation: items hidden or approved, citizens' flags, an audit log of every act

- ``campaigns.moderation``: "post" (items public until hidden; every existing campaign) or "pre"
  (only approved items are public).
- ``item_moderation``: a facilitator's last decision on an item ("hidden" or "shown").
- ``item_flags``: who flagged which item (/signaler), one flag per citizen and item.
- ``moderation_log``: who did what to which item, and when (no item text).

The items table is left alone: public reads filter on ``item_moderation``, the ingestion path
writes nothing more.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qn_bot.store.schema import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "moderation", sa.String(8), nullable=False, server_default=sa.text("'post'")
            )
        )
    op.create_table(
        "item_moderation",
        sa.Column("item_id", _ID, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name="fk_item_moderation_item_id_items",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_item_moderation_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("item_id", name="pk_item_moderation"),
    )
    op.create_index(
        "ix_item_moderation_campaign_state", "item_moderation", ["campaign_id", "state"]
    )
    op.create_table(
        "item_flags",
        sa.Column("id", _ID, nullable=False),
        sa.Column("item_id", _ID, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_item_flags_item_id_items", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_item_flags_campaign_id_campaigns"
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name="fk_item_flags_participant_id_participants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_item_flags"),
        sa.UniqueConstraint(
            "item_id", "participant_id", name="uq_item_flags_item_id_participant_id"
        ),
    )
    op.create_index("ix_item_flags_campaign", "item_flags", ["campaign_id", "item_id"])
    op.create_table(
        "moderation_log",
        sa.Column("id", _ID, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_moderation_log_campaign_id_campaigns"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_moderation_log"),
    )
    op.create_index("ix_moderation_log_campaign", "moderation_log", ["campaign_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_moderation_log_campaign", table_name="moderation_log")
    op.drop_table("moderation_log")
    op.drop_index("ix_item_flags_campaign", table_name="item_flags")
    op.drop_table("item_flags")
    op.drop_index("ix_item_moderation_campaign_state", table_name="item_moderation")
    op.drop_table("item_moderation")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("moderation")
