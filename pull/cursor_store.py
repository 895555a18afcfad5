"""The puller's PostgreSQL edge: the lock that makes one puller active per (provider,
account), and the cursor behind it.

Everything runs on one dedicated connection: the advisory lock is a session lock, so it
lives exactly as long as that connection, and the cursor is written on the same
connection. A puller whose connection died (and so lost its lock to a standby) cannot
write a cursor any more; it stops. The cursor write is also a compare-and-set, so a cursor
moved by anyone else stops this puller loudly instead of being overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pull.envelopes import Refusal
from sql import query


class CursorMoved(Exception):
    """The stored cursor is not the one this puller last wrote: another puller is active."""


@dataclass(frozen=True, slots=True)
class StoredCursor:
    cursor: str
    last_event_at: datetime | None


@dataclass(frozen=True, slots=True)
class PullerPosition:
    """One (provider, account)'s cursor, for `dsync status`."""

    provider: str
    account: str
    cursor: str
    last_event_at: datetime | None
    updated_at: datetime


async def read_positions(database_url: str) -> list[PullerPosition]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(query("pull_cursors"))
    finally:
        await conn.close()
    return [PullerPosition(**dict(row)) for row in rows]


class CursorStore:
    def __init__(self, conn: asyncpg.Connection, provider: str, account: str) -> None:
        self._conn = conn
        self._key = (provider, account)

    @classmethod
    async def connect(cls, database_url: str, provider: str, account: str) -> CursorStore:
        return cls(await asyncpg.connect(database_url), provider, account)

    async def close(self) -> None:
        await self._conn.close()

    async def try_lock(self) -> bool:
        return bool(await self._conn.fetchval(query("pull_lock"), *self._key))

    async def load(self) -> StoredCursor | None:
        row = await self._conn.fetchrow(query("pull_cursor"), *self._key)
        return None if row is None else StoredCursor(row["cursor"], row["last_event_at"])

    async def advance(
        self,
        expected: str | None,
        cursor: str,
        last_event_at: datetime | None,
        refusals: Sequence[Refusal] = (),
    ) -> None:
        """Store `cursor` (and the refusals it moves past) in one transaction; raises
        CursorMoved when the stored cursor is not `expected`."""
        async with self._conn.transaction():
            if refusals:
                await self._conn.executemany(
                    query("refuse_pulled_event"),
                    [(*self._key, r.event_id, r.reason, r.body) for r in refusals],
                )
            moved = await self._conn.fetchval(
                query("advance_pull_cursor"), *self._key, expected, cursor, last_event_at
            )
            if moved is None:
                raise CursorMoved(f"the stored {self._key[0]} cursor is not {expected!r}")
