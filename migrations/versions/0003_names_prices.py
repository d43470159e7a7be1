"""Caches of ESI lookups: names for ids, ids for typed names, market prices.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "names",
        sa.Column(
            "entity_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity_id", name=op.f("pk_names")),
    )

    op.create_table(
        "prices",
        sa.Column("type_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("average", sa.Float(), nullable=True),
        sa.Column("adjusted", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("type_id", name=op.f("pk_prices")),
    )

    op.create_table(
        "entity_ids",
        sa.Column("name_key", sa.String(length=255), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name_key", "entity_id", name=op.f("pk_entity_ids")),
    )


def downgrade() -> None:
    op.drop_table("entity_ids")
    op.drop_table("prices")
    op.drop_table("names")
