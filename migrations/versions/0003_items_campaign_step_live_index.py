"""items: the campaign index covers the digest's count

``(campaign_id, step_id)`` becomes ``(campaign_id, step_id, deleted_at, created_at,
updated_at)``: the digest counts live items per step and per week, and the latest update,
from ranges of the index alone instead of reading the whole table (SQLite has no hash
aggregate: grouping 1M rows meant sorting them). The leading columns stay, so every query
that used the old index still can.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ["campaign_id", "step_id", "deleted_at", "created_at", "updated_at"]


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_campaign_step_live", _COLUMNS, unique=False)
        batch_op.drop_index("ix_items_campaign_step")


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index("ix_items_campaign_step", ["campaign_id", "step_id"], unique=False)
        batch_op.drop_index("ix_items_campaign_step_live")
