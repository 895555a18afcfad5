"""Typed queries over an explicit connection: the caller owns the transaction.
One function per named query in sql/queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sql import query
from worker.merge import UserRow
from worker.store import Conn

_USER_COLUMNS = UserRow.__slots__


@dataclass(frozen=True, slots=True)
class AppliedEvent:
    source: str
    event_id: str
    event_type: str
    directory_id: str | None
    outcome: str
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    source: str | None
    event_id: str | None
    event_type: str | None
    directory_id: str | None
    topic: str
    partition: int
    offset: int
    reason: str
    headers: dict[str, str]
    body: bytes | None


async def lock_offset(conn: Conn, group: str, topic: str, partition: int) -> int:
    """Lock the partition's offset row (creating it) and return the next offset to apply."""
    await conn.execute(query("insert_offset"), group, topic, partition)
    value = await conn.fetchval(query("lock_offset"), group, topic, partition)
    return int(value)


async def store_offset(
    conn: Conn, group: str, topic: str, partition: int, next_offset: int
) -> None:
    await conn.execute(query("store_offset"), group, topic, partition, next_offset)


async def stored_offsets(conn: Conn, group: str, topic: str) -> dict[int, int]:
    rows = await conn.fetch(query("stored_offsets"), group, topic)
    return {int(row["partition"]): int(row["next_offset"]) for row in rows}


async def seen_events(conn: Conn, source: str, event_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(query("seen_events"), source, list(event_ids))
    return {str(row["event_id"]) for row in rows}


async def record_events(conn: Conn, events: Sequence[AppliedEvent]) -> None:
    if events:
        await conn.execute(query("record_events"), *_columns(events, AppliedEvent.__slots__))


async def load_users(conn: Conn, ids: Iterable[str]) -> dict[str, UserRow]:
    rows = await conn.fetch(query("load_users"), sorted(set(ids)))
    return {row["id"]: UserRow(**dict(row)) for row in rows}


async def save_users(conn: Conn, users: Sequence[UserRow]) -> None:
    if users:
        await conn.execute(query("save_users"), *_columns(users, _USER_COLUMNS))


async def dead_letter(conn: Conn, letters: Sequence[DeadLetter]) -> None:
    await conn.executemany(
        query("dead_letter"),
        [
            (
                d.source,
                d.event_id,
                d.event_type,
                d.directory_id,
                d.topic,
                d.partition,
                d.offset,
                d.reason,
                d.headers,
                d.body,
            )
            for d in letters
        ],
    )


def _columns(rows: Sequence[object], names: Sequence[str]) -> list[list[object]]:
    """Transpose dataclass rows into one array per column, for `unnest` inserts."""
    return [[getattr(row, name) for row in rows] for name in names]
