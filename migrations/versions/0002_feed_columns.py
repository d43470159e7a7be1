"""Feed facts on killmails: too old to notify, zkb labels and points, source and sequence.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("killmails") as batch_op:
        batch_op.add_column(
            sa.Column("too_old", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "labels", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("points", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sequence_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("killmails") as batch_op:
        batch_op.drop_column("sequence_id")
        batch_op.drop_column("source")
        batch_op.drop_column("points")
        batch_op.drop_column("labels")
        batch_op.drop_column("too_old")
