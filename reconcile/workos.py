"""WorkOS (provider-apis.md §1.2-1.5): /directories (reconcile.directories), and
/directory_users and /directory_groups of one directory, oldest first, 100 per page; a
group's members through `/directory_users?group=`.
Every /directory_users call (the group filter and single reads too) takes a token of the
directory's 4-per-second budget (`rate_key`). Corrective upserts are `dsync.user.updated` /
`dsync.group.updated` events carrying the listed object; `context.dsync_reconcile` names
the run (WorkOS events have a `context` object; the worker's model ignores its content)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

from dsync.provider_http import ProviderHttp, ProviderRefused, Rate
from dsync.settings import Settings
from reconcile.listing import UNLIMITED, Kind, Listed, Object, Page, required
from schemas.envelope import EventEnvelope, Source
from schemas.workos import Directory, DirectoryGroup, DirectoryUser
from worker.mappers.workos import directory_row, group_row, user_row
from worker.rows import DirectoryRow

PAGE = "100"
# 6,000 requests per 60 s per key; 4 per second per directory on /directory_users: no
# burst and 5% under, so never 5 in one second.
RATES = (Rate(100.0, 100.0), Rate(3.8, 1.0))
_PATHS: dict[Kind, str] = {"users": "/directory_users", "groups": "/directory_groups"}
_EVENTS: dict[Kind, str] = {"users": "dsync.user.updated", "groups": "dsync.group.updated"}
# REST says linked/unlinked where events (and so the tables) say active/inactive (§1.2).
_STATES = {"linked": "active", "unlinked": "inactive"}


def open_reader(settings: Settings, *, limited: bool = True) -> tuple[WorkOS, ProviderHttp]:
    """The reader and its HTTP client (the caller closes it), within the provider's
    documented budget; `limited=False` only for a benchmark against a stand-in."""
    key = required(settings.workos_api_key, "DSYNC_WORKOS_API_KEY")
    rates = RATES if limited else UNLIMITED
    http = ProviderHttp(
        settings.workos_api_base_url, key, global_rate=rates[0], keyed_rate=rates[1]
    )
    return WorkOS(http), http


class WorkOS:
    name: Source = "workos"

    def __init__(self, http: ProviderHttp) -> None:
        self._http = http
        self._directory = ""

    async def prepare(self, directory_id: str) -> None:
        self._directory = directory_id

    async def users(self, cursor: str | None) -> Page:
        return await self._page("/directory_users", {"directory": self._directory}, cursor)

    async def groups(self, cursor: str | None) -> Page:
        return await self._page("/directory_groups", {"directory": self._directory}, cursor)

    async def members(self, group: Object) -> AsyncIterator[list[str]]:
        cursor: str | None = None
        while True:
            page = await self._page("/directory_users", {"group": str(group["id"])}, cursor)
            yield [str(item["id"]) for item in page.items if "id" in item]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def user_groups(self, user: Object) -> list[str]:
        return []  # `groups` on users is deprecated: groups list their members

    async def gone(self, kind: Kind, object_id: str) -> bool:
        try:
            await self._http.get_json(f"{_PATHS[kind]}/{object_id}", rate_key=self._rate_key(kind))
        except ProviderRefused as refused:
            if refused.status == 404:
                return True
            raise
        return False

    def read(self, kind: Kind, item: Object, at: datetime) -> Listed:
        if kind == "users":
            user = DirectoryUser.model_validate(item)
            return Listed(kind, user.id, user_row(user, None), item)
        group = DirectoryGroup.model_validate(item)
        return Listed(kind, group.id, group_row(group, None), item)

    def event(self, listed: Listed, at: datetime, run_id: str, event_id: str) -> EventEnvelope:
        data = {key: value for key, value in listed.item.items() if key != "groups"}
        return self._event(_EVENTS[listed.kind], data, self._directory, at, (event_id, run_id))

    async def directories(self, cursor: str | None) -> Page:
        return await self._page("/directories", {}, cursor)

    def read_directory(self, item: Object) -> DirectoryRow:
        row = directory_row(Directory.model_validate(item), None)
        return replace(row, state=_STATES.get(row.state or "", row.state))

    async def directory_gone(self, directory_id: str) -> bool:
        try:
            await self._http.get_json(f"/directories/{directory_id}")
        except ProviderRefused as refused:
            if refused.status == 404:
                return True
            raise
        return False

    def directory_event(
        self, row: DirectoryRow, deleted_at: datetime | None, at: datetime, ids: tuple[str, str]
    ) -> EventEnvelope:
        """`dsync.activated`, or `dsync.deleted` with `deleted_at`: the mapper's PutDirectory."""
        data = {
            "object": "directory",
            "id": row.id,
            "organization_id": row.organization_id,
            "name": row.name,
            "type": row.type,
            "state": row.state,
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
        }
        kind = "dsync.activated" if deleted_at is None else "dsync.deleted"
        return self._event(kind, data, row.id, deleted_at or at, ids)

    def _event(
        self, kind: str, data: Object, directory_id: str, at: datetime, ids: tuple[str, str]
    ) -> EventEnvelope:
        """The WorkOS event `kind` about `data`; `context.dsync_reconcile` names the run."""
        body = {
            "object": "event",
            "id": ids[0],
            "event": kind,
            "data": data,
            "created_at": at.isoformat(),
            "context": {"dsync_reconcile": {"run_id": ids[1]}},
        }
        return EventEnvelope(
            source=self.name,
            event_id=ids[0],
            event_type=kind,
            directory_id=directory_id,
            received_at=datetime.now(UTC),
            body=json.dumps(body, separators=(",", ":")).encode(),
            occurred_at=at,
        )

    def key(self, kind: Kind, object_id: str) -> str | None:
        return None

    async def _page(self, path: str, scope: dict[str, str], cursor: str | None) -> Page:
        params = {**scope, "limit": PAGE, "order": "asc"}
        if cursor is not None:
            params["after"] = cursor
        rate_key = self._directory if path == "/directory_users" else None
        document = await self._http.get_json(path, params, rate_key=rate_key)
        items = [item for item in document.get("data") or [] if isinstance(item, dict)]
        after = (document.get("list_metadata") or {}).get("after")
        return Page(items, str(after) if after and items else None)

    def _rate_key(self, kind: Kind) -> str | None:
        return self._directory if kind == "users" else None
