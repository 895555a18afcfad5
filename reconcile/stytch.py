"""Stytch B2B (provider-apis.md §2): a dsync directory is an organization. Members come from
Search Members (POST, 1000 per page, every status including `deleted`, which an empty query
hides: pitfall 10); groups from the organization's SCIM connection (Get SCIM connection
groups, 1000 per page). Stytch has no group-members listing: a member's groups are read
from its `scim_registration.scim_attributes.groups[].value` (a guess, UNCONFIRMED in the
reference: that `value` is the Stytch `group_id`). Search is budgeted at 100 per minute
(the SDK's figure; the docs say 100/s).

Members carry `updated_at`, so "newer wins" uses the provider's time; groups carry none
and are dated at the run's `unchanged_since`. Corrective events are shaped as Stytch's
(`action: UPDATE`) with `source: RECONCILE`, keyed like the ingress keys Stytch records."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from dsync.provider_http import ProviderHttp, Rate
from dsync.settings import ConfigError, Settings, not_set
from reconcile.listing import UNLIMITED, Kind, Listed, Object, Page, required
from schemas.envelope import EventEnvelope, Source
from schemas.stytch import IdpGroup, Member
from worker.mappers.stytch import group_row, user_row

PAGE = 1000
STATUSES = ["active", "invited", "pending", "deleted"]
_OBJECTS: dict[Kind, str] = {"users": "member", "groups": "idp_group"}


# Search Members: 100 per minute (the SDK's figure, the lower of the two the reference found).
RATES = (Rate(100 / 60, 5.0), Rate(100 / 60, 5.0))


def open_reader(settings: Settings, *, limited: bool = True) -> tuple[Stytch, ProviderHttp]:
    """The reader and its HTTP client (the caller closes it), within the provider's
    documented budget; `limited=False` only for a benchmark against a stand-in."""
    project = settings.stytch_project_id
    secret = required(settings.stytch_secret, "DSYNC_STYTCH_SECRET")
    if not project:
        raise ConfigError(not_set("DSYNC_STYTCH_PROJECT_ID"))
    basic = base64.b64encode(f"{project}:{secret.get_secret_value()}".encode()).decode()
    rates = RATES if limited else UNLIMITED
    http = ProviderHttp(
        settings.stytch_api_base_url,
        SecretStr(basic),
        scheme="Basic",
        global_rate=rates[0],
        keyed_rate=rates[1],
    )
    return Stytch(http), http


class Stytch:
    name: Source = "stytch"

    def __init__(self, http: ProviderHttp) -> None:
        self._http = http
        self._organization = ""
        self._connection: str | None = None

    async def prepare(self, directory_id: str) -> None:
        self._organization = directory_id
        document = await self._http.get_json(f"/v1/b2b/scim/{directory_id}/connection")
        connection = document.get("connection") or {}
        self._connection = connection.get("connection_id")

    async def users(self, cursor: str | None) -> Page:
        document = await self._search(cursor, [])
        items = [m for m in document.get("members") or [] if isinstance(m, dict)]
        after = (document.get("results_metadata") or {}).get("next_cursor")
        return Page(items, str(after) if after and items else None)

    async def groups(self, cursor: str | None) -> Page:
        if self._connection is None:
            return Page([], None)  # no SCIM connection: no IdP groups
        params = {"limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
        path = f"/v1/b2b/scim/{self._organization}/connection/{self._connection}"
        document = await self._http.get_json(path, params)
        items = [g for g in document.get("scim_groups") or [] if isinstance(g, dict)]
        after = document.get("next_cursor")
        return Page(items, str(after) if after and items else None)

    async def members(self, group: Object) -> AsyncIterator[list[str]]:
        return
        yield []  # memberships come with the members (user_groups)

    def user_groups(self, user: Object) -> list[str]:
        scim = (user.get("scim_registration") or {}).get("scim_attributes") or {}
        groups: list[Any] = scim.get("groups") or []
        return [str(g["value"]) for g in groups if isinstance(g, dict) and g.get("value")]

    async def gone(self, kind: Kind, object_id: str) -> bool:
        """A member is gone when a search by its id (deleted ones included) finds nothing.
        Groups have no single read: the listing's word is taken."""
        if kind == "groups":
            return True
        operand = {"filter_name": "member_ids", "filter_value": [object_id]}
        document = await self._search(None, [operand])
        return not document.get("members")

    def read(self, kind: Kind, item: Object, at: datetime) -> Listed:
        if kind == "users":
            member = Member.model_validate(item)
            return Listed(kind, member.member_id, user_row(member, at), item)
        group = IdpGroup.model_validate(item)
        return Listed(kind, group.group_id, group_row(group, self._organization, at), item)

    def event(self, listed: Listed, at: datetime, run_id: str, event_id: str) -> EventEnvelope:
        body = {
            "event_id": event_id,
            "action": "UPDATE",
            "object_type": _OBJECTS[listed.kind],
            "source": "RECONCILE",
            "id": listed.id,
            "timestamp": at.isoformat(),
            "organization_id": self._organization,
            ("member" if listed.kind == "users" else "idp_group"): listed.item,
            "dsync_reconcile": {"run_id": run_id},
        }
        return EventEnvelope(
            source=self.name,
            event_id=event_id,
            event_type=f"reconcile.{_OBJECTS[listed.kind]}.update",
            directory_id=self._organization,
            received_at=datetime.now(UTC),
            body=json.dumps(body, separators=(",", ":")).encode(),
            occurred_at=at,
            key=self.key(listed.kind, listed.id),
        )

    def key(self, kind: Kind, object_id: str) -> str | None:
        return f"{_OBJECTS[kind]}:{object_id}"[:255]

    async def _search(self, cursor: str | None, operands: list[Object]) -> Any:
        statuses = {"filter_name": "statuses", "filter_value": STATUSES}
        body: Object = {
            "organization_ids": [self._organization],
            "limit": PAGE,
            "query": {"operator": "AND", "operands": [statuses, *operands]},
        }
        if cursor:
            body["cursor"] = cursor
        return await self._http.post_json("/v1/b2b/organizations/members/search", body)
