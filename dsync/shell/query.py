"""`dsync query`: one read-only SQL query, its rows printed tab-separated."""

from __future__ import annotations

import argparse
import asyncio

from dsync.settings import Settings
from dsync.shell.command import DATABASE, Commands, add_command


def register(commands: Commands) -> None:
    query = add_command(
        commands,
        "query",
        "run one read-only SQL query and print the rows (tab-separated, with a header)",
        _query,
        needs=(f"{DATABASE} or --database-url",),
    )
    query.add_argument("sql", help="one SQL statement, run in a read-only transaction")
    query.add_argument(
        "--database-url", default=None, help=f"the database to query (default: {DATABASE})"
    )


def _query(args: argparse.Namespace, settings: Settings) -> None:
    asyncio.run(_fetch(args.sql, args.database_url or settings.require_database_url()))


async def _fetch(sql: str, database_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction(readonly=True):
            rows = await conn.fetch(sql)
    finally:
        await conn.close()
    if rows:
        print("\t".join(rows[0].keys()))
    for row in rows:
        print("\t".join("" if v is None else str(v) for v in row.values()))
