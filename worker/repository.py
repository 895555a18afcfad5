"""Typed queries over an explicit connection: the caller owns the transaction.
One function per named query in sql/queries. Rows are written through `worker.columns`:
each field fills the parameter whose column has its name (`worker.rows` declares which
query writes which row)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from schemas.storable import escaped
from sql import query
from worker import rows as written
from worker.columns import binding
from worker.dlq import stored_headers
from worker.errors import PermanentDbError, TransientError
from worker.latency_budget import Verdict
from worker.merge import REACTIVATABLE
from worker.rows import (
    AppliedEvent,
    DeadLetter,
    DirectoryRow,
    GroupRow,
    HealthRow,
    MembershipRow,
    PendingDeletion,
    StoredLetter,
    UserRow,
)
from worker.store import TxConn, savepoint
from worker.tables import DirectoryKey

_R = TypeVar("_R", DirectoryRow, UserRow, GroupRow, MembershipRow)


async def lock_offset(conn: TxConn, group: str, topic: str, partition: int) -> int:
    """Lock the partition's offset row (creating it) and return the next offset to apply."""
    await conn.execute(query("insert_offset"), group, topic, partition)
    value = await conn.fetchval(query("lock_offset"), group, topic, partition)
    return int(value)


async def store_offset(
    conn: TxConn, group: str, topic: str, partition: int, next_offset: int
) -> None:
    await conn.execute(query("store_offset"), group, topic, partition, next_offset)


async def stored_offsets(conn: TxConn, group: str, topic: str) -> dict[int, int]:
    rows = await conn.fetch(query("stored_offsets"), group, topic)
    return {int(row["partition"]): int(row["next_offset"]) for row in rows}


async def seen_events(conn: TxConn, source: str, event_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(query("seen_events"), source, list(event_ids))
    return {str(row["event_id"]) for row in rows}


async def record_events(conn: TxConn, events: Sequence[AppliedEvent]) -> None:
    if events:
        bound = binding(written.EVENTS)
        await conn.execute(bound.sql, *bound.arrays(events))


async def record_health(conn: TxConn, verdicts: Sequence[Verdict]) -> int | None:
    """Mark the batch's directories degraded or healthy (one statement); return how many
    directories are degraded, or None when the batch says nothing about any directory."""
    stored = [
        HealthRow(
            directory_id=v.directory_id,
            provider=v.provider,
            breached=v.breached,
            event_id=v.worst_event_id,
            seconds=v.worst_seconds,
        )
        for v in verdicts
        if v.directory_id is not None
    ]
    if not stored:
        return None
    bound = binding(written.HEALTH)
    row = await conn.fetchrow(bound.sql, *bound.arrays(stored))
    assert row is not None  # an aggregate query returns one row
    return int(row["degraded_directories"])


async def lock_directories(conn: TxConn, keys: Iterable[DirectoryKey]) -> None:
    """One lock per directory id, whatever the provider: coarser than needed, never wrong."""
    ids = sorted({directory_id for _, directory_id in keys})
    if ids:
        await conn.fetchval(query("lock_directories"), ids)


async def load_directories(
    conn: TxConn, keys: Iterable[DirectoryKey]
) -> dict[DirectoryKey, DirectoryRow]:
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    rows = await conn.fetch(
        query("load_directories"), [k[0] for k in ordered], [k[1] for k in ordered]
    )
    loaded = [DirectoryRow(**dict(row)) for row in rows]
    return {row.owner: row for row in loaded}


async def load_users(conn: TxConn, ids: Iterable[str]) -> dict[str, UserRow]:
    return {row.id: row for row in await _load(conn, "load_users", UserRow, ids)}


async def load_groups(conn: TxConn, ids: Iterable[str]) -> dict[str, GroupRow]:
    return {row.id: row for row in await _load(conn, "load_groups", GroupRow, ids)}


async def load_memberships(
    conn: TxConn, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], MembershipRow]:
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    rows = await conn.fetch(
        query("load_memberships"), [k[0] for k in ordered], [k[1] for k in ordered]
    )
    loaded = [MembershipRow(**dict(row)) for row in rows]
    return {(m.group_id, m.user_id): m for m in loaded}


async def save_directories(conn: TxConn, rows: Sequence[DirectoryRow]) -> None:
    await _save(conn, written.DIRECTORIES, rows)


async def save_users(conn: TxConn, rows: Sequence[UserRow]) -> None:
    await _save(conn, written.USERS, rows)


async def save_groups(conn: TxConn, rows: Sequence[GroupRow]) -> None:
    await _save(conn, written.GROUPS, rows)


async def save_memberships(conn: TxConn, rows: Sequence[MembershipRow]) -> None:
    await _save(conn, written.MEMBERSHIPS, rows)


async def load_pending_deletions(
    conn: TxConn, user_ids: Iterable[str], group_ids: Iterable[str]
) -> dict[tuple[str, str], PendingDeletion]:
    keys = sorted({("users", i) for i in user_ids} | {("groups", i) for i in group_ids})
    if not keys:
        return {}
    rows = await conn.fetch(
        query("load_pending_deletions"), [k[0] for k in keys], [k[1] for k in keys]
    )
    loaded = [PendingDeletion(**dict(row)) for row in rows]
    return {(p.kind, p.id): p for p in loaded}


async def save_pending_deletions(conn: TxConn, rows: Sequence[PendingDeletion]) -> None:
    if rows:
        bound = binding(written.PENDING_DELETIONS)
        await conn.execute(bound.sql, *bound.arrays(rows))


async def cascade_directory_deletion(conn: TxConn, directory: DirectoryRow) -> None:
    await conn.execute(
        query("cascade_directory_deletion"),
        directory.id,
        directory.provider,
        directory.deleted_at,
        directory.provider in REACTIVATABLE,
    )


async def clear_directory_tables(conn: TxConn) -> None:
    await conn.execute(query("clear_directory_tables"))


async def _load(conn: TxConn, name: str, kind: type[_R], ids: Iterable[str]) -> list[_R]:
    ordered = sorted(set(ids))
    if not ordered:
        return []
    return [kind(**dict(row)) for row in await conn.fetch(query(name), ordered)]


async def _save(conn: TxConn, write: written.Write, rows: Sequence[_R]) -> None:
    """Upsert merged rows. A row another directory claimed after we loaded (a concurrent
    batch of another partition) is refused; retrying reloads it and dead-letters ours."""
    if not rows:
        return
    bound = binding(write)
    returned = await conn.fetch(bound.sql, *bound.arrays(rows))
    if len(returned) != len(rows):
        raise TransientError(f"{write.query}: a row was claimed concurrently by another directory")


async def dead_letter(conn: TxConn, letters: Sequence[DeadLetter]) -> None:
    """Store each letter and queue it for the dead-letter topic (the outbox), in the
    caller's transaction. Never refused for what a letter holds: its text is escaped where
    PostgreSQL text could not hold it, its headers stored as `dlq.stored_headers` keeps
    them, its body as bytes. Should the database refuse the letters anyway (a 22xxx or
    23xxx nobody foresaw), they are stored bare (where they were read, the refusal and the
    body): a letter that cannot be written must not stop every directory."""
    if not letters:
        return
    bound = binding(written.DEAD_LETTERS)
    try:
        async with savepoint(conn):
            await conn.executemany(bound.sql, [bound.values(_stored(d)) for d in letters])
    except PermanentDbError as exc:
        reason = f"the database refused this dead letter ({exc}); its fields were dropped"
        await conn.executemany(bound.sql, [bound.values(_bare(d, reason)) for d in letters])


def _stored(d: DeadLetter) -> StoredLetter:
    def text(value: str | None) -> str | None:
        return None if value is None else escaped(value)

    return StoredLetter(
        source=text(d.source),
        event_id=text(d.event_id),
        event_type=text(d.event_type),
        directory_id=text(d.directory_id),
        topic=escaped(d.topic),
        partition=d.partition,
        offset=d.offset,
        reason=escaped(d.reason),
        headers=stored_headers(d.headers),
        body=d.body,
    )


def _bare(d: DeadLetter, reason: str) -> StoredLetter:
    return StoredLetter(
        source=None,
        event_id=None,
        event_type=None,
        directory_id=None,
        topic=escaped(d.topic),
        partition=d.partition,
        offset=d.offset,
        reason=reason,
        headers={},
        body=d.body,
    )
