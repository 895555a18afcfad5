"""One reconciliation of a (provider, directory) at a time.

Two runs of one directory (a cron and an operator, two replicas of `--every`) would resume
the same unfinished run and interleave its checkpoints and tally. A run therefore holds a
session-level PostgreSQL advisory lock on its connection for its whole length; PostgreSQL
drops it when that connection ends, so a killed or crashed run never leaves it held. A run
that finds the lock held does not wait: the directory is skipped (reconcile.main reports
it, `dsync reconcile` exits with SKIPPED_EXIT) and `dsync status` shows the run holding it.
Dry runs lock apart from repairs: each mode has its own run records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import asyncpg

from sql import query

SKIPPED = "another reconciliation is running"
SKIPPED_EXIT = 75  # EX_TEMPFAIL: nothing is wrong, try again later


@asynccontextmanager
async def exclusive(
    conn: asyncpg.Connection, provider: str, directory_id: str, dry_run: bool
) -> AsyncIterator[bool]:
    """Yields whether this connection now holds the directory's lock (never waits); a
    held lock is released on exit, or by PostgreSQL with the connection."""
    key = (provider, directory_id, dry_run)
    held = bool(await conn.fetchval(query("reconcile_try_lock"), *key))
    try:
        yield held
    finally:
        if held and not conn.is_closed():
            with suppress(asyncpg.exceptions.ConnectionDoesNotExistError):  # lock gone with it
                await conn.fetchval(query("reconcile_unlock"), *key)
