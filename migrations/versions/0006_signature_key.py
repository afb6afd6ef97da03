"""participants: a unique key per signature (one name, one participant)

/signer accepted any name: a citizen could sign with another's pseudonym or signature and the
exports merged the two. ``signature_key`` holds the digest of the signature's comparison key
(qn_bot.identity: case, accents, spaces, invisible characters and look-alike letters folded)
under a unique index. Signatures already stored get their key; where several participants
share one name, the one who signed first (lowest id) keeps it and the others become anonymous
again; a signature that looks like a pseudonym, or has no letter, is removed. Downgrading drops
the key (the signatures stay).

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from qn_bot.identity import Signature, parse_signature

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature_key", sa.String(length=64), nullable=True))
    participants = sa.table(
        "participants",
        sa.column("id", sa.Integer),
        sa.column("signature", sa.String),
        sa.column("signature_key", sa.String),
    )
    conn = op.get_bind()
    signed = conn.execute(
        sa.select(participants.c.id, participants.c.signature)
        .where(participants.c.signature.is_not(None))
        .order_by(participants.c.id)
    ).all()
    taken: set[str] = set()
    for participant_id, raw in signed:
        parsed = parse_signature(raw)
        keep = isinstance(parsed, Signature) and parsed.key not in taken
        values = {"signature": None, "signature_key": None}
        if isinstance(parsed, Signature) and keep:
            taken.add(parsed.key)
            values = {"signature": parsed.text, "signature_key": parsed.key}
        conn.execute(
            sa.update(participants).where(participants.c.id == participant_id).values(**values)
        )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index("ix_participants_signature_key", ["signature_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index("ix_participants_signature_key")
        batch_op.drop_column("signature_key")
