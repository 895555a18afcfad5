"""The Stytch B2B read-API stand-in (provider-apis.md §2) for reconciliation tests:
POST /v1/b2b/organizations/members/search, GET /v1/b2b/scim/{organization_id}/connection
and GET /v1/b2b/scim/{organization_id}/connection/{connection_id} (the SCIM groups), over
real HTTP with scripted faults (tests/standins/server.py).

Served as the reference documents it: HTTP Basic auth (project id : secret); search takes
`organization_ids`, `cursor`, `limit` (default 100, at most 1000) and an AND `query`
whose `statuses` and `member_ids` operands filter; an empty query hides deleted members;
`results_metadata.next_cursor` is null on the last page; SCIM groups page by
`cursor`/`limit` with `next_cursor`; errors carry `status_code`, `error_type`,
`error_message`; every body has `status_code` and `request_id`.

Guesses (UNCONFIRMED in the reference): results are ordered by member id; cursors are
opaque offsets; a member's groups are `scim_registration.scim_attributes.groups[]` with
`value` = the Stytch `group_id`; a removed member keeps status `deleted` (not
"deactivated") and is still found by a search that lists `deleted`.
"""

from __future__ import annotations

import base64
import json
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from tests.standins.polis import Object
from tests.standins.server import StandIn, send_json

SEARCH = "/v1/b2b/organizations/members/search"


class _Refused(Exception):
    def __init__(self, status: int, error_type: str) -> None:
        self.status, self.error_type = status, error_type


@dataclass
class StytchTruth:
    organization_id: str = "organization-test-00000000-0000-4000-8000-000000000001"
    connection_id: str = "scim-connection-test-00000000-0000-4000-8000-000000000003"
    members: dict[str, Object] = field(default_factory=dict)
    groups: dict[str, Object] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _sequence: int = 0

    def add_member(self, email: str, at: str) -> str:
        with self.lock:
            member_id = self._new_id("member-test")
            self.members[member_id] = {
                "organization_id": self.organization_id,
                "member_id": member_id,
                "email_address": email,
                "status": "active",
                "name": email.split("@")[0].title(),
                "roles": [],
                "scim_registration": {
                    "connection_id": self.connection_id,
                    "external_id": f"ext-{member_id}",
                    "scim_attributes": {"user_name": email, "active": True, "groups": []},
                },
                "created_at": at,
                "updated_at": at,
            }
            return member_id

    def update_member(self, member_id: str, at: str, **changes: Any) -> None:
        with self.lock:
            self.members[member_id].update(changes, updated_at=at)

    def add_group(self, name: str) -> str:
        with self.lock:
            group_id = self._new_id("scim-group")
            self.groups[group_id] = {
                "group_id": group_id,
                "group_name": name,
                "organization_id": self.organization_id,
                "connection_id": self.connection_id,
            }
            return group_id

    def join(self, group_id: str, member_id: str) -> None:
        with self.lock:
            scim = self.members[member_id]["scim_registration"]["scim_attributes"]
            name = self.groups[group_id]["group_name"]
            scim["groups"] = [*scim["groups"], {"value": group_id, "display": name}]

    def _new_id(self, prefix: str) -> str:
        self._sequence += 1
        return f"{prefix}-00000000-0000-4000-8000-{self._sequence:012d}"


class StytchStandIn(StandIn):
    def __init__(self, project_id: str, secret: str, truth: StytchTruth) -> None:
        token = base64.b64encode(f"{project_id}:{secret}".encode()).decode()
        self.authorization = f"Basic {token}"
        self.truth = truth
        super().__init__()

    @classmethod
    def running(
        cls, project_id: str, secret: str, truth: StytchTruth
    ) -> AbstractContextManager[StytchStandIn]:
        return cls(project_id, secret, truth).served()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = dict(parse_qsl(scope["query_string"].decode()))
        auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        try:
            status, document = 200, self.answer(scope["method"], scope["path"], query, body, auth)
        except _Refused as refused:
            status = refused.status
            document = {"error_type": refused.error_type, "error_message": refused.error_type}
        document = {"status_code": status, "request_id": "request-id-standin", **document}
        await send_json(send, status, document, {})

    def answer(
        self, method: str, path: str, query: dict[str, str], body: bytes, auth: str
    ) -> Object:
        if auth != self.authorization:
            raise _Refused(401, "unauthorized_credentials")
        truth = self.truth
        with truth.lock:
            if method == "POST" and path == SEARCH:
                return self._search(json.loads(body or b"{}"))
            prefix = f"/v1/b2b/scim/{truth.organization_id}/connection"
            if method == "GET" and path == prefix:
                return {"connection": {"connection_id": truth.connection_id, "status": "active"}}
            if method == "GET" and path == f"{prefix}/{truth.connection_id}":
                groups, after = _paged(sorted(truth.groups.values(), key=_id("group_id")), query)
                return {"scim_groups": groups, "next_cursor": after}
        raise _Refused(404, "not_found")

    def _search(self, request: Object) -> Object:
        if request.get("organization_ids") != [self.truth.organization_id]:
            raise _Refused(400, "invalid_organization_ids")
        statuses, ids = ["active", "invited", "pending"], None
        for operand in (request.get("query") or {}).get("operands") or []:
            if operand["filter_name"] == "statuses":
                statuses = operand["filter_value"]
            elif operand["filter_name"] == "member_ids":
                ids = set(operand["filter_value"])
        found = [
            m
            for m in sorted(self.truth.members.values(), key=_id("member_id"))
            if m["status"] in statuses and (ids is None or m["member_id"] in ids)
        ]
        paging = {"cursor": request.get("cursor") or "", "limit": str(request.get("limit", 100))}
        members, after = _paged(found, paging)
        return {"members": members, "results_metadata": {"total": len(found), "next_cursor": after}}


def _id(name: str) -> Any:
    return lambda item: item[name]


def _paged(items: list[Object], query: dict[str, str]) -> tuple[list[Object], str | None]:
    limit = int(query.get("limit") or 100)
    if not 0 < limit <= 1000:
        raise _Refused(400, "invalid_limit")
    offset = int(query.get("cursor") or 0)
    page = items[offset : offset + limit]
    return page, str(offset + limit) if offset + limit < len(items) else None
