"""What the SCIM process reads: tokens, resources, members, pages. It never writes the
directory tables (the worker does). Every read is scoped to the URL's directory."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from schemas.storable import unstorable
from scim_server.filters import Kind, condition
from scim_server.tokens import matches
from sql import query


@dataclass(frozen=True, slots=True)
class Directory:
    id: str
    organization_id: str | None


@dataclass(frozen=True, slots=True)
class StoredResource:
    id: str
    resource: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    resources: list[tuple[Kind, StoredResource]]


_LISTED = (
    "FROM dsync_internal.scim_resources AS r WHERE r.directory_id = $1 AND r.kind = $2 "
    "AND r.deleted_at IS NULL AND "
)


class Store:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def authorized(self, directory_id: str, token: str | None) -> Directory | None:
        """The directory when `token` is one of its live tokens; None otherwise."""
        if token is None or unstorable(directory_id) or unstorable(token):
            return None
        rows = await self._pool.fetch(query("scim_directory_tokens"), directory_id)
        if not matches(token, [bytes(row["token_sha256"]) for row in rows]):
            return None
        return Directory(directory_id, rows[0]["organization_id"])

    async def resource(self, directory: Directory, kind: Kind, rid: str) -> StoredResource | None:
        if not _is_uuid(rid):
            return None  # our ids are UUIDs: anything else is unknown, whatever it holds
        row = await self._pool.fetchrow(query("scim_resource"), rid, directory.id, kind)
        return None if row is None else StoredResource(**dict(row))

    async def profile(self, directory: Directory) -> dict[str, Any] | None:
        """The directory's provisioning profile as stored (scim_server.profile reads it)."""
        found: dict[str, Any] | None = await self._pool.fetchval(
            query("scim_profile"), directory.id
        )
        return found

    async def members(self, directory: Directory, group_id: str) -> list[tuple[str, str]]:
        rows = await self._pool.fetch(query("scim_group_members"), group_id, directory.id)
        return [(row["user_id"], row["name"]) for row in rows]

    async def page(
        self,
        directory: Directory,
        kinds: tuple[Kind, ...],
        text: str | None,
        start: int,
        count: int,
    ) -> Page:
        """Resources of `kinds` matching the filter, each kind in creation order and the
        kinds one after the other, so paging is stable across them; `start` is 1-based.
        One snapshot: the total and the page agree."""
        wheres = [(kind, *condition(kind, text, first=3, among=kinds)) for kind in kinds]
        skip, left, total = start - 1, count, 0
        found: list[tuple[Kind, StoredResource]] = []
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            for kind, where, params in wheres:
                args = [directory.id, kind, *params]
                matching = int(await conn.fetchval(f"SELECT count(*) {_LISTED}{where}", *args))
                total += matching
                if left > 0 and skip < matching:
                    n = len(args)
                    rows = await conn.fetch(
                        "SELECT r.id, r.resource, r.version, r.created_at, r.updated_at "
                        f"{_LISTED}{where} ORDER BY r.created_at, r.id "
                        f"LIMIT ${n + 1} OFFSET ${n + 2}",
                        *args,
                        left,
                        skip,
                    )
                    found += [(kind, StoredResource(**dict(row))) for row in rows]
                    left -= len(rows)
                skip = max(skip - matching, 0)
        return Page(total, found)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
