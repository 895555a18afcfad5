"""Bring a database to the code's schema, safely from several processes at once.

Two steps under one advisory lock: the numbered migrations of sql/migrations, each applied
once (an applied one must never change), then the files of sql/functions, each applied again
whenever its checksum differs from the one recorded (the current definitions of the SQL
functions, triggers and views; see sql/__init__.py).
"""

from __future__ import annotations

import asyncpg

from dsync.logs import Log
from sql import function_files, migrations

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
CREATE TABLE IF NOT EXISTS dsync_internal.schema_functions (
    name       text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""


class MigrationError(Exception):
    """The database's migration history does not match the code's."""


async def migrate(database_url: str) -> list[int]:
    """Apply pending migrations, then changed function files; return the migrations'
    versions. Idempotent."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_BOOTSTRAP)
            versions = await apply_migrations(conn)
            await apply_function_files(conn)
            return versions
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def apply_migrations(conn: asyncpg.Connection) -> list[int]:
    """Apply the numbered migrations not yet applied; return their versions.

    The caller holds the advisory lock and has run the bootstrap."""
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


async def apply_function_files(conn: asyncpg.Connection) -> list[str]:
    """Apply, in name order, each function file whose checksum is not the recorded one;
    return their names. Each file and its record commit together.

    The caller holds the advisory lock and has run the bootstrap."""
    rows = await conn.fetch("SELECT name, checksum FROM dsync_internal.schema_functions")
    recorded = {row["name"]: row["checksum"] for row in rows}
    done: list[str] = []
    for file in function_files():
        if recorded.get(file.name) == file.checksum:
            continue
        async with conn.transaction():
            await conn.execute(file.sql)
            await conn.execute(
                "INSERT INTO dsync_internal.schema_functions (name, checksum) VALUES ($1, $2)"
                " ON CONFLICT (name) DO UPDATE"
                " SET checksum = excluded.checksum, applied_at = now()",
                file.name,
                file.checksum,
            )
        done.append(file.name)
    if done:
        _log.info("migrate.functions_applied", files=done)
    return done
