"""Migrations from empty give the documented schema, once, even from two processes."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg
import pytest

from dsync.migrate import MigrationError, migrate
from sql import Migration, migrations

pytestmark = pytest.mark.db

SCHEMA_DOC = Path(__file__).parents[2] / "docs" / "schema.md"


def documented_columns() -> dict[str, list[tuple[str, str, bool]]]:
    """`### dsync.table` sections of docs/schema.md -> (column, type, nullable) rows."""
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    current: str | None = None
    for line in SCHEMA_DOC.read_text().splitlines():
        heading = re.match(r"^### (dsync\.\w+)$", line)
        if heading:
            current = heading[1]
            tables[current] = []
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if current and line.startswith("|") and len(cells) >= 3 and cells[2] in ("yes", "no"):
            tables[current].append((cells[0], cells[1], cells[2] == "yes"))
    return tables


async def actual_columns(conn: asyncpg.Connection) -> dict[str, list[tuple[str, str, bool]]]:
    rows = await conn.fetch(
        """
        SELECT table_name, column_name, data_type, is_nullable = 'YES' AS nullable
        FROM information_schema.columns
        WHERE table_schema = 'dsync'
        ORDER BY table_name, ordinal_position
        """
    )
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for row in rows:
        tables.setdefault(f"dsync.{row['table_name']}", []).append(
            (row["column_name"], row["data_type"], row["nullable"])
        )
    return tables


async def test_migrating_from_empty_gives_the_documented_schema(empty_database_url: str) -> None:
    await migrate(empty_database_url)

    conn = await asyncpg.connect(empty_database_url)
    try:
        actual = await actual_columns(conn)
    finally:
        await conn.close()
    assert documented_columns()  # the doc parses
    assert actual == documented_columns()


async def test_migrate_twice_applies_nothing_the_second_time(empty_database_url: str) -> None:
    first = await migrate(empty_database_url)
    second = await migrate(empty_database_url)

    assert first == [m.version for m in migrations()]
    assert second == []


async def test_two_concurrent_migrations_apply_each_version_once(empty_database_url: str) -> None:
    results = await asyncio.gather(migrate(empty_database_url), migrate(empty_database_url))

    assert sorted(results[0] + results[1]) == [m.version for m in migrations()]
    conn = await asyncpg.connect(empty_database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM dsync_internal.schema_migrations")
    finally:
        await conn.close()
    assert count == len(migrations())


async def test_an_edited_applied_migration_is_refused(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate(empty_database_url)
    first = migrations()[0]
    edited = (Migration(first.version, first.name, first.sql + "\n-- edited"), *migrations()[1:])
    monkeypatch.setattr("dsync.migrate.migrations", lambda: edited)

    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(empty_database_url)
