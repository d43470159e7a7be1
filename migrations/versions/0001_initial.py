"""Killmails seen and key/value state.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "killmails",
        sa.Column(
            "killmail_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("killmail_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("solar_system_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("killmail_id", name=op.f("pk_killmails")),
    )
    with op.batch_alter_table("killmails") as batch_op:
        batch_op.create_index(batch_op.f("ix_killmails_killmail_time"), ["killmail_time"])
        batch_op.create_index(
            batch_op.f("ix_killmails_solar_system_id_killmail_time"),
            ["solar_system_id", "killmail_time"],
        )

    op.create_table(
        "state",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_state")),
    )


def downgrade() -> None:
    op.drop_table("state")
    with op.batch_alter_table("killmails") as batch_op:
        batch_op.drop_index(batch_op.f("ix_killmails_solar_system_id_killmail_time"))
        batch_op.drop_index(batch_op.f("ix_killmails_killmail_time"))
    op.drop_table("killmails")
