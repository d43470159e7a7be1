"""Subscriptions, the outbox of notifications owed, and the killmail body on stored kills.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("killmails") as batch_op:
        batch_op.add_column(sa.Column("body", sa.LargeBinary(), nullable=True))

    op.create_table(
        "subscriptions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("filter", _JSON, nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("preset", sa.String(length=32), nullable=True),
        sa.Column("style", sa.String(length=16), server_default="full", nullable=False),
        sa.Column("mention", sa.String(length=64), nullable=True),
        sa.Column(
            "mention_cooldown_seconds", sa.Integer(), server_default="900", nullable=False
        ),
        sa.Column("max_age_minutes", sa.Integer(), nullable=True),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriptions_destination"), ["destination"])
        batch_op.create_index(batch_op.f("ix_subscriptions_guild_id"), ["guild_id"])
        batch_op.create_index(batch_op.f("ix_subscriptions_owner_id"), ["owner_id"])

    op.create_table(
        "outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("killmail_id", sa.BigInteger(), nullable=False),
        sa.Column("subscription_ids", _JSON, nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint(
            "destination", "killmail_id", name=op.f("uq_outbox_destination_killmail_id")
        ),
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_state_id"), ["state", "id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_state_id"))
    op.drop_table("outbox")
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_owner_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_guild_id"))
        batch_op.drop_index(batch_op.f("ix_subscriptions_destination"))
    op.drop_table("subscriptions")
    with op.batch_alter_table("killmails") as batch_op:
        batch_op.drop_column("body")
