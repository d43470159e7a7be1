from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, inspect
from sqlalchemy.engine import Connection

from engine.store.database import Database, make_url
from engine.store.migrate import (
    MIGRATIONS_DIRECTORY,
    SchemaOutOfDate,
    SchemaStatus,
    alembic_config,
    downgrade,
    require_current_schema,
    schema_status,
    upgrade,
)
from engine.store.tables import metadata

# Every revision is numbered in order and revises the one before: one straight line.
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
TABLES = {"alembic_version", *metadata.tables}

KILLMAIL_INDEXES = {
    "ix_killmails_killmail_time": ["killmail_time"],
    "ix_killmails_solar_system_id_killmail_time": ["solar_system_id", "killmail_time"],
    "ix_killmails_value": ["value"],
}


def _describe(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    indexes = (
        {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("killmails")}
        if "killmails" in tables
        else {}
    )
    primary_keys = {
        table: inspector.get_pk_constraint(table)["name"]
        for table in ("killmails", "state")
        if table in tables
    }
    return {"tables": tables, "indexes": indexes, "primary_keys": primary_keys}


async def describe(url: URL) -> dict[str, Any]:
    async with Database(url) as db, db.engine.connect() as connection:
        return await connection.run_sync(_describe)


async def test_upgrade_then_downgrade_then_upgrade_again(database_url: URL) -> None:
    await upgrade(database_url)
    schema = await describe(database_url)
    assert schema["tables"] == TABLES
    assert schema["indexes"] == KILLMAIL_INDEXES
    assert schema["primary_keys"] == {"killmails": "pk_killmails", "state": "pk_state"}

    await downgrade(database_url, "base")
    schema = await describe(database_url)
    assert schema["tables"] == {"alembic_version"}
    assert schema["indexes"] == {}

    await upgrade(database_url)
    schema = await describe(database_url)
    assert schema["tables"] == TABLES
    assert schema["indexes"] == KILLMAIL_INDEXES


async def test_schema_status_before_and_after_upgrade(database_url: URL) -> None:
    before = await schema_status(database_url)
    assert before == SchemaStatus(current=None, head=HEAD)
    assert before.up_to_date is False

    await upgrade(database_url)

    after = await schema_status(database_url)
    assert after == SchemaStatus(current=HEAD, head=HEAD)
    assert after.up_to_date is True


async def test_require_current_schema_on_empty_database_says_to_migrate(
    database_url: URL,
) -> None:
    with pytest.raises(SchemaOutOfDate, match=r"run `killwatch migrate`") as raised:
        await require_current_schema(database_url)
    assert raised.value.status == SchemaStatus(current=None, head=HEAD)
    assert "none (empty database)" in str(raised.value)


async def test_require_current_schema_after_downgrade_says_to_migrate(database_url: URL) -> None:
    await upgrade(database_url)
    await downgrade(database_url, "base")
    with pytest.raises(SchemaOutOfDate, match=r"run `killwatch migrate`"):
        await require_current_schema(database_url)


async def test_require_current_schema_passes_on_migrated_database(migrated_url: URL) -> None:
    assert await require_current_schema(migrated_url) == SchemaStatus(HEAD, HEAD)


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_build_exactly_the_schema_the_models_declare(migrated_url: URL) -> None:
    async with Database(migrated_url) as db, db.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


def test_migrations_are_found_in_the_installed_package_with_one_linear_head() -> None:
    assert (MIGRATIONS_DIRECTORY / "env.py").is_file()
    assert (MIGRATIONS_DIRECTORY / "versions" / "0001_initial.py").is_file()
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(reversed(list(script.walk_revisions())))
    assert script.get_heads() == [HEAD]
    assert [rev.revision for rev in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    assert [rev.down_revision for rev in revisions] == [None, *(r.revision for r in revisions[:-1])]


async def test_alembic_inside_a_running_loop_needs_a_connection() -> None:
    # Without a connection env.py would need asyncio.run, which cannot nest in this loop.
    with pytest.raises(RuntimeError, match=r"config.attributes\['connection'\]"):
        command.upgrade(alembic_config(), "head")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_password_with_percent_and_at_survives_migration(database_url: URL) -> None:
    # The test server trusts local connections, so any password is accepted; what matters is
    # that '%' and '@' reach the driver intact instead of breaking configparser or the URL.
    url = make_url(database_url, "p%40ss%w@rd")
    await upgrade(url)
    assert (await schema_status(url)).up_to_date is True
