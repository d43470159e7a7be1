"""Who took part in each kill, indexed: ``kill_participants``, filled from the stored bodies.

`/kills entity:` and `/intel` used to search the bodies of the newest 50,000 kills for an id's
bytes; one row per (kill, entity) with the kill's time makes "the newest kills of X since T" a
range of the (entity_id, killmail_time, killmail_id) index.

The backfill reads bodies in batches of ids and decodes only the parties, with structs of its
own: a revision must not import engine code that later changes. The index is built after the
rows are in, which is faster than keeping it up to date row by row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 00:00:00+00:00
"""

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BATCH = 2000  # kills per read: a few MB of bodies at most


class _Party(msgspec.Struct):
    character_id: int | None = None
    corporation_id: int | None = None
    alliance_id: int | None = None
    faction_id: int | None = None


class _Body(msgspec.Struct):
    victim: _Party
    attackers: list[_Party] = []


_decode = msgspec.json.Decoder(_Body)

_killmails = sa.table(
    "killmails",
    sa.column("killmail_id", _ID),
    sa.column("killmail_time", sa.DateTime(timezone=True)),
    sa.column("body", sa.LargeBinary()),
)
_participants = sa.table(
    "kill_participants",
    sa.column("killmail_id", _ID),
    sa.column("entity_id", _ID),
    sa.column("role", sa.String(8)),
    sa.column("killmail_time", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "kill_participants",
        sa.Column("killmail_id", _ID, autoincrement=False, nullable=False),
        sa.Column("entity_id", _ID, autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("killmail_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("killmail_id", "entity_id", name=op.f("pk_kill_participants")),
        sqlite_with_rowid=False,
    )
    _backfill(op.get_bind())
    op.create_index(
        op.f("ix_kill_participants_entity_id_killmail_time_killmail_id"),
        "kill_participants",
        ["entity_id", "killmail_time", "killmail_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_kill_participants_entity_id_killmail_time_killmail_id"),
        table_name="kill_participants",
    )
    op.drop_table("kill_participants")


def _backfill(connection: sa.Connection) -> None:
    last = -1
    kills = rows = 0
    while True:
        batch = connection.execute(
            sa.select(_killmails.c.killmail_id, _killmails.c.killmail_time, _killmails.c.body)
            .where(_killmails.c.killmail_id > last, _killmails.c.body.is_not(None))
            .order_by(_killmails.c.killmail_id)
            .limit(_BATCH)
        ).all()
        if not batch:
            break
        last = batch[-1][0]
        found = [row for killmail_id, when, body in batch for row in _rows(killmail_id, when, body)]
        if found:
            connection.execute(_participants.insert(), found)
        kills += len(batch)
        rows += len(found)
    if kills:
        log.info("kill_participants: %d rows from %d stored kills", rows, kills)


def _rows(killmail_id: int, when: Any, body: bytes) -> Iterator[dict[str, Any]]:
    try:
        parsed = _decode.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        log.warning("killmail %s: stored body unreadable, no participants", killmail_id)
        return
    roles = dict.fromkeys(_ids(parsed.victim), "victim")
    for attacker in parsed.attackers:
        for entity_id in _ids(attacker):
            if entity_id not in roles:
                roles[entity_id] = "attacker"
            elif roles[entity_id] == "victim":
                roles[entity_id] = "both"
    for entity_id, role in roles.items():
        yield {
            "killmail_id": killmail_id,
            "entity_id": entity_id,
            "role": role,
            "killmail_time": when,
        }


def _ids(party: _Party) -> Iterator[int]:
    for entity_id in (
        party.character_id,
        party.corporation_id,
        party.alliance_id,
        party.faction_id,
    ):
        if entity_id is not None:
            yield entity_id
