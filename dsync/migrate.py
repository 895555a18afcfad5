"""Apply sql/migrations in order, once each, safely from several processes at once."""

from __future__ import annotations

import asyncpg

from dsync.logs import Log
from sql import migrations

_log = Log("dsync.migrate")

# pg_advisory_lock key shared by every `dsync migrate`: "dsync" as an integer.
_LOCK_KEY = int.from_bytes(b"dsync", "big")

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS dsync_internal;
CREATE TABLE IF NOT EXISTS dsync_internal.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


class MigrationError(Exception):
    """The database's migration history does not match the code's."""


async def migrate(database_url: str) -> list[int]:
    """Apply pending migrations; return their versions. Idempotent."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _apply_pending(conn)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection) -> list[int]:
    await conn.execute(_BOOTSTRAP)
    rows = await conn.fetch("SELECT version, checksum FROM dsync_internal.schema_migrations")
    applied = {row["version"]: row["checksum"] for row in rows}
    done: list[int] = []
    for migration in migrations():
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version} ({migration.name}) changed after it was applied"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO dsync_internal.schema_migrations (version, name, checksum)"
                " VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        _log.info("migrate.applied", version=migration.version, name=migration.name)
        done.append(migration.version)
    if not done:
        _log.info("migrate.up_to_date", version=max(applied, default=0))
    return done
