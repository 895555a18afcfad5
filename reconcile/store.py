"""The run's reads and writes in PostgreSQL, one function per named query
(sql/queries/reconcile.sql). The caller owns the connection and any transaction. The tables
themselves are only read: repairs travel as events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from reconcile.drift import Tally
from reconcile.listing import Kind
from sql import query
from worker import rows as written
from worker.columns import binding
from worker.rows import GroupRow, ListedMember, ListedObject, UserRow

Conn = asyncpg.Connection  # set up by worker.store.connect (jsonb as Python values)
Phase = str  # users | groups | memberships | vanished | done


@dataclass(frozen=True, slots=True)
class Checkpoint:
    run_id: str
    unchanged_since: datetime
    phase: Phase
    cursor: str | None
    tally: Tally


@dataclass(frozen=True, slots=True)
class MembershipDrift:
    group_id: str
    user_id: str
    present: bool
    stored: str  # the register's state, for the event id


async def open_run(
    conn: Conn, provider: str, directory_id: str, dry_run: bool
) -> Checkpoint | None:
    row = await conn.fetchrow(query("reconcile_open_run"), provider, directory_id, dry_run)
    if row is None:
        return None
    tally = Tally.restored(_json(row["drift"]), _json(row["drift_ids"]), _json(row["repaired"]))
    return Checkpoint(row["run_id"], row["unchanged_since"], row["phase"], row["cursor"], tally)


async def start_run(
    conn: Conn, run_id: str, provider: str, directory_id: str, dry_run: bool, since: datetime
) -> None:
    await conn.execute(query("reconcile_start_run"), run_id, provider, directory_id, dry_run, since)


async def checkpoint(
    conn: Conn, run_id: str, phase: Phase, cursor: str | None, tally: Tally
) -> None:
    await conn.execute(query("reconcile_checkpoint"), run_id, phase, cursor, *_tally(tally))


async def finish(conn: Conn, run_id: str, tally: Tally) -> None:
    async with conn.transaction():
        await conn.execute(query("reconcile_finish"), run_id, *_tally(tally))
        await conn.execute(query("reconcile_forget_listed"), run_id)
        await conn.execute(query("reconcile_forget_members"), run_id)


async def record_listed(conn: Conn, run_id: str, kind: Kind, ids: Sequence[str]) -> None:
    if ids:
        bound = binding(written.RECONCILE_LISTED)
        rows = [ListedObject(run_id=run_id, kind=kind, id=i) for i in ids]
        await conn.execute(bound.sql, *bound.arrays(rows))


async def record_members(conn: Conn, run_id: str, pairs: Sequence[tuple[str, str]]) -> None:
    if pairs:
        bound = binding(written.RECONCILE_MEMBERS)
        rows = [ListedMember(run_id=run_id, group_id=g, user_id=u) for g, u in pairs]
        await conn.execute(bound.sql, *bound.arrays(rows))


async def stored_rows(conn: Conn, kind: Kind, ids: Sequence[str]) -> dict[str, UserRow | GroupRow]:
    if kind == "users":
        rows = await conn.fetch(query("reconcile_stored_users"), list(ids))
        return {row["id"]: UserRow(**dict(row)) for row in rows}
    rows = await conn.fetch(query("reconcile_stored_groups"), list(ids))
    return {row["id"]: GroupRow(**dict(row)) for row in rows}


async def analyze_listing(conn: Conn) -> None:
    """Fresh statistics for the listing before the diffs read it (sql/queries/reconcile.sql)."""
    await conn.execute(query("reconcile_analyze_listing"))


async def unlisted(
    conn: Conn, run_id: str, provider: str, directory_id: str, kind: Kind
) -> AsyncIterator[tuple[str, datetime]]:
    """Live rows of the directory the run did not list, streamed (a cursor)."""
    name = "reconcile_unlisted_users" if kind == "users" else "reconcile_unlisted_groups"
    async with conn.transaction():
        async for row in conn.cursor(query(name), run_id, provider, directory_id):
            yield row["id"], row["updated_at"]


async def membership_drift(
    conn: Conn, run_id: str, provider: str, directory_id: str
) -> AsyncIterator[MembershipDrift]:
    async with conn.transaction():
        sql = query("reconcile_membership_drift")
        async for row in conn.cursor(sql, run_id, provider, directory_id):
            stored = f"{row['stored_present']}@{row['stored_at']}"
            yield MembershipDrift(row["group_id"], row["user_id"], row["present"], stored)


async def directories(conn: Conn, provider: str) -> list[str]:
    return [row["id"] for row in await conn.fetch(query("reconcile_directories"), provider)]


def _tally(tally: Tally) -> tuple[dict[str, int], dict[str, list[str]], dict[str, int]]:
    return dict(tally.found), tally.ids, dict(tally.repaired)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
