"""The PostgreSQL boundary: a pool, transactions, and the one place asyncpg errors are
classified (by SQLSTATE class) into the worker's own errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeAlias

import asyncpg

from worker.errors import PermanentDbError, TransientError

# A pooled connection inside a transaction its caller owns (`Store.transaction`): what the
# repository's functions and the chain's steps take. (A bare asyncpg.Connection, as the
# operator commands open one, is another thing.)
TxConn: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

_TRANSIENT_CLASSES = {"08", "40", "53", "57"}  # connection, rollback, resources, operator
_PERMANENT_CLASSES = {"22", "23"}  # data exception, integrity constraint


@contextmanager
def classified() -> Iterator[None]:
    """Translate asyncpg failures; anything unclassified propagates (a bug: stop)."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        sqlstate = exc.sqlstate or ""
        if sqlstate[:2] in _TRANSIENT_CLASSES:
            raise TransientError(f"{sqlstate}: {type(exc).__name__}") from exc
        if sqlstate[:2] in _PERMANENT_CLASSES:
            constraint = getattr(exc, "constraint_name", None) or type(exc).__name__
            raise PermanentDbError(sqlstate, constraint) from exc
        raise
    except (OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        if isinstance(exc, asyncpg.InterfaceError) and not _connection_lost(exc):
            raise
        raise TransientError(type(exc).__name__) from exc


def _connection_lost(exc: asyncpg.InterfaceError) -> bool:
    return isinstance(exc, asyncpg.ConnectionDoesNotExistError) or "closed" in str(exc)


# The worker's statements probe indexes with the ids of one batch (at most a few thousand)
# in tables that stay cached. At the default random_page_cost (4, priced for spinning
# disks) PostgreSQL switched to sequential scans of whole tables once they had grown
# (load_users: 0.44 s in one B4 run, 4.7 s in the next); 1.1 is the usual price for SSD and
# cached data. The access functions carry the same setting themselves (migration 0011).
SESSION_SETTINGS = {"random_page_cost": "1.1"}


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(database_url: str) -> asyncpg.Connection[asyncpg.Record]:
    """One connection set up like the pool's (jsonb as Python values), for commands that
    need no pool; the caller closes it."""
    conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(
        database_url, server_settings=SESSION_SETTINGS
    )
    await _init_connection(conn)
    return conn


@asynccontextmanager
async def savepoint(conn: TxConn) -> AsyncIterator[None]:
    """A savepoint in the caller's transaction: a failure inside rolls back only what was
    done inside, and arrives classified (so the caller can take another way)."""
    with classified():
        async with conn.transaction():
            yield


class Store:
    """Owns the pool. The caller owns each transaction through `transaction()`."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, database_url: str, *, size: int) -> Store:
        with classified():
            pool = await asyncpg.create_pool(
                database_url,
                min_size=1,
                max_size=size,
                init=_init_connection,
                server_settings=SESSION_SETTINGS,
            )
        return cls(pool)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[TxConn]:
        with classified():
            async with self._pool.acquire() as conn, conn.transaction():
                yield conn

    async def close(self) -> None:
        await self._pool.close()
