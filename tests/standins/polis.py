"""The Ory Polis read-API stand-in (provider-apis.md §3) for reconciliation tests:
GET /api/v1/dsync/{directoryId}, /api/v1/dsync/users[/{id}], /groups[/{id}] and
/groups/{id}/members, over real HTTP with scripted faults (tests/standins/server.py).

Served as the reference documents it: `Authorization: Api-Key <key>` (401
`{"error":{"message":"Unauthorized"}}` otherwise); `directoryId` scoping (404 "Directory
not found." for an unknown one); offset pages (`pageOffset`/`pageLimit`) silently capped at
`page_limit` (DB_PAGE_LIMIT, default 50) when the limit is missing, 0, not a number or above
it; directory-filtered lists ordered by id descending; `{"data":[...],"error":null}`;
members as `{"data":[{"user_id":...}]}`; deleting a user keeps its member rows (pitfall 14),
deleting a group removes its members. The directory object carries SCIM and webhook secrets.

Guesses: a single read of an unknown user or group is 404 `{"error":{"message":...}}`; ids
are sequential text so that "id descending" is reproducible.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from tests.standins.server import StandIn, send_json

Object = dict[str, Any]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


@dataclass
class PolisTruth:
    directory_id: str = "58b5cd9dfaa39d47eb8f5f88631f9a629a232016"
    tenant: str = "example.com"
    product: str = "dsync-tests"
    users: dict[str, Object] = field(default_factory=dict)
    groups: dict[str, Object] = field(default_factory=dict)
    members: set[tuple[str, str]] = field(default_factory=set)  # (group id, user id)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _sequence: int = 0

    def add_user(self, email: str, *, active: bool = True) -> str:
        with self.lock:
            user_id = self._new_id("u")
            self.users[user_id] = {
                "id": user_id,
                "first_name": email.split("@")[0].title(),
                "last_name": "Standin",
                "email": email,
                "active": active,
                "directoryId": self.directory_id,
                "raw": {"userName": email, "active": active, "id": user_id},
            }
            return user_id

    def update_user(self, user_id: str, **changes: Any) -> None:
        with self.lock:
            self.users[user_id].update(changes)

    def delete_user(self, user_id: str) -> None:
        with self.lock:
            del self.users[user_id]  # member rows stay (DirectoryUsers.delete)

    def add_group(self, name: str) -> str:
        with self.lock:
            group_id = self._new_id("g")
            self.groups[group_id] = {"id": group_id, "name": name, "raw": {"displayName": name}}
            return group_id

    def delete_group(self, group_id: str) -> None:
        with self.lock:
            del self.groups[group_id]
            self.members = {m for m in self.members if m[0] != group_id}

    def _new_id(self, prefix: str) -> str:
        self._sequence += 1
        return f"{prefix}-{self._sequence:08d}"


class PolisStandIn(StandIn):
    def __init__(self, api_key: str, truth: PolisTruth, *, page_limit: int = 50) -> None:
        self.api_key, self.truth, self.page_limit = api_key, truth, page_limit
        super().__init__()

    @classmethod
    def running(
        cls, api_key: str, truth: PolisTruth, **options: Any
    ) -> AbstractContextManager[PolisStandIn]:
        return cls(api_key, truth, **options).served()

    async def _serve(self, scope: Scope, _receive: Receive, send: Send) -> None:
        query = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
        auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        try:
            document = self.answer(scope["path"], query, auth)
            status = 200
        except _Refused as refused:
            status, document = refused.status, {"error": {"message": refused.message}}
        await send_json(send, status, document, {})

    def answer(self, path: str, query: dict[str, str], auth: str) -> Object:
        if auth.partition(" ")[2] != self.api_key:
            raise _Refused(401, "Unauthorized")
        parts = path.removeprefix("/api/v1/dsync/").split("/")
        truth = self.truth
        with truth.lock:
            if len(parts) == 1 and parts[0] not in ("users", "groups"):
                return {"data": self._directory(parts[0])}
            if query.get("directoryId") != truth.directory_id:
                raise _Refused(404, "Directory not found.")
            table = truth.users if parts[0] == "users" else truth.groups
            if len(parts) == 1:
                return {"data": self._page(list(table.values()), query), "error": None}
            found = table.get(parts[1])
            if found is None:
                raise _Refused(404, f"{parts[0][:-1].title()} not found")
            if len(parts) == 3 and parts[2] == "members":
                members = [{"id": u, "user_id": u} for g, u in truth.members if g == parts[1]]
                page = self._page(members, query)
                return {"data": [{"user_id": m["user_id"]} for m in page]}
            return {"data": found}

    def _directory(self, directory_id: str) -> Object:
        truth = self.truth
        if directory_id != truth.directory_id:
            raise _Refused(404, "Directory not found.")
        return {
            "id": directory_id,
            "name": "Example",
            "tenant": truth.tenant,
            "product": truth.product,
            "type": "okta-scim-v2",
            "scim": {"path": "/scim", "endpoint": "http://x/scim", "secret": "scim-secret"},
            "webhook": {"endpoint": "http://x/hook", "secret": "webhook-secret"},
            "deactivated": False,
        }

    def _page(self, items: list[Object], query: dict[str, str]) -> list[Object]:
        offset = int(query.get("pageOffset") or query.get("offset") or "0")
        raw = query.get("pageLimit") or query.get("limit") or ""
        limit = int(raw) if raw.isdigit() else 0
        if not 0 < limit <= self.page_limit:
            limit = self.page_limit
        ordered = sorted(items, key=lambda item: str(item["id"]), reverse=True)
        return ordered[offset : offset + limit]
