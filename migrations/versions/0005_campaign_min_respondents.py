"""campaigns: an anonymity threshold of their own

Public outputs (digests, their attachments, the site) show the answers of a section only when at
least this many participants gave some; below, a count. Existing campaigns get the safe default,
5, like new ones: a campaign that needs a lower one says so (`qn-bot campaign set SLUG
--min-respondents N`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("min_respondents", sa.Integer(), nullable=False, server_default=sa.text("5"))
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("min_respondents")
