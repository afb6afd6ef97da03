"""votes: peer votes on statements (issue 15), and the last opinion groups of each campaign

One vote per citizen and item (the latest wins), gone with either; the campaign's last groups
seed the next computation so that groups stay stable from one run to the next.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qn_bot.store.schema import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("value IN (-1, 0, 1)", name=op.f("ck_votes_value")),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_votes_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_votes_item_id_items"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_votes_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("participant_id", "item_id", name=op.f("pk_votes")),
    )
    op.create_index(
        "ix_votes_campaign", "votes", ["campaign_id", "item_id", "participant_id", "value"]
    )
    op.create_index("ix_votes_item", "votes", ["item_id"])
    op.create_table(
        "opinion_groups",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_opinion_groups_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_opinion_groups_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "participant_id", name=op.f("pk_opinion_groups")),
    )
    op.create_index("ix_opinion_groups_participant", "opinion_groups", ["participant_id"])


def downgrade() -> None:
    op.drop_index("ix_opinion_groups_participant", table_name="opinion_groups")
    op.drop_table("opinion_groups")
    op.drop_index("ix_votes_item", table_name="votes")
    op.drop_index("ix_votes_campaign", table_name="votes")
    op.drop_table("votes")
