"""Ory Polis (provider-apis.md §3): /api/v1/dsync/users, /groups and
/groups/{id}/members, always with `directoryId`. Offset pages; the server silently caps a
page at DB_PAGE_LIMIT (default 50), so a walk ends on an empty page, never on a short one
(pitfall 13). Offset walks can skip a row while rows are deleted: every object missing
from the listing is confirmed gone by a read before it is reported vanished (the run loop
does so for every provider). Members may name deleted users (pitfall 14): the run loop
counts only members that the users listing returned.

Polis objects carry no time: a corrective event is dated at the run's `unchanged_since`,
as the ingress dates a Polis delivery, so any live event after the listing began wins.
The directory object holds SCIM and webhook secrets: only tenant and product are kept."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from dsync.provider_http import ProviderHttp, ProviderRefused, Rate
from dsync.settings import ConfigError, Settings, not_set
from reconcile.listing import UNLIMITED, Kind, Listed, Object, Page, required
from schemas.envelope import EventEnvelope, Source
from schemas.polis import PolisEvent
from worker.mappers.polis import group_row, user_row

PAGE = 50
_EVENTS: dict[Kind, str] = {"users": "user.updated", "groups": "group.updated"}


# A self-hosted Polis has no limiter: dsync keeps itself to 20 requests per second.
RATES = (Rate(20.0, 20.0), Rate(20.0, 20.0))


def open_reader(settings: Settings, *, limited: bool = True) -> tuple[Polis, ProviderHttp]:
    """The reader and its HTTP client (the caller closes it), within the provider's
    documented budget; `limited=False` only for a benchmark against a stand-in."""
    key = required(settings.polis_api_key, "DSYNC_POLIS_API_KEY")
    if not settings.polis_api_base_url:
        raise ConfigError(not_set("DSYNC_POLIS_API_BASE_URL"))
    rates = RATES if limited else UNLIMITED
    http = ProviderHttp(
        settings.polis_api_base_url,
        key,
        scheme="Api-Key",
        global_rate=rates[0],
        keyed_rate=rates[1],
    )
    return Polis(http), http


class Polis:
    name: Source = "polis"

    def __init__(self, http: ProviderHttp) -> None:
        self._http = http
        self._directory = ""
        self._tenant: str | None = None
        self._product: str | None = None

    async def prepare(self, directory_id: str) -> None:
        self._directory = directory_id
        document = await self._http.get_json(f"/api/v1/dsync/{directory_id}")
        directory = document.get("data") or {}
        self._tenant, self._product = directory.get("tenant"), directory.get("product")

    async def users(self, cursor: str | None) -> Page:
        return await self._page("/api/v1/dsync/users", cursor)

    async def groups(self, cursor: str | None) -> Page:
        return await self._page("/api/v1/dsync/groups", cursor)

    async def members(self, group: Object) -> AsyncIterator[list[str]]:
        cursor: str | None = None
        while True:
            page = await self._page(f"/api/v1/dsync/groups/{group['id']}/members", cursor)
            yield [str(item["user_id"]) for item in page.items if "user_id" in item]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def user_groups(self, user: Object) -> list[str]:
        return []

    async def gone(self, kind: Kind, object_id: str) -> bool:
        path = f"/api/v1/dsync/{kind}/{object_id}"
        try:
            await self._http.get_json(path, {"directoryId": self._directory})
        except ProviderRefused as refused:
            if refused.status == 404:
                return True
            raise
        return False

    def read(self, kind: Kind, item: Object, at: datetime) -> Listed:
        event = self._event(kind, item)
        if kind == "users":
            user = event.user()
            return Listed(kind, user.id, user_row(event, user, at, None), item)
        group = event.group()
        return Listed(kind, group.id, group_row(event, group, at, None), item)

    def event(self, listed: Listed, at: datetime, run_id: str, event_id: str) -> EventEnvelope:
        body = {
            "event": _EVENTS[listed.kind],
            "tenant": self._tenant,
            "product": self._product,
            "directory_id": self._directory,
            "data": listed.item,
            "dsync_reconcile": {"run_id": run_id},
        }
        return EventEnvelope(
            source=self.name,
            event_id=event_id,
            event_type=_EVENTS[listed.kind],
            directory_id=self._directory,
            received_at=datetime.now(UTC),
            body=json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
            occurred_at=at,
        )

    def key(self, kind: Kind, object_id: str) -> str | None:
        return None

    def _event(self, kind: Kind, item: Object) -> PolisEvent:
        return PolisEvent(
            event=_EVENTS[kind],
            tenant=self._tenant,
            product=self._product,
            directory_id=self._directory,
            data=item,
        )

    async def _page(self, path: str, cursor: str | None) -> Page:
        offset = int(cursor or "0")
        params = {"directoryId": self._directory, "pageOffset": str(offset), "pageLimit": str(PAGE)}
        document = await self._http.get_json(path, params)
        raw = document.get("data") or []
        items = [item for item in raw if isinstance(item, dict)]
        return Page(items, str(offset + len(raw)) if raw else None)
