"""The WorkOS read-API stand-in (provider-apis.md §1): GET /directories[/{id}],
/directory_users[/{id}] (`directory`, `group`), /directory_groups[/{id}] (`directory`,
`user`) and /events, served from a WorkOSTruth over real HTTP with scripted faults.

    with WorkOSStandIn.running(api_key="sk_test") as standin:
        directory = standin.truth.add_directory()
        standin.faults.add(Fault(429, retry_after="1", path="/events"))
        ... standin.url ... standin.traffic.by_path["/events"] ...

Documented behaviour served as documented: bearer auth, list pagination (limit 1..100,
default 10; before/after object ids; order asc|desc|normal, default desc, `normal` flipping
the cursors), `{"object":"list","data":[...],"list_metadata":{...}}` with a null `after` at
the end, /events requiring `events`, refusing `after` with `range_start`, serving
oldest-first whatever `order` says (the live server's behaviour, workos-node#1610) with no
`before` key, and 4 req/s per directory on /directory_users when `rate_limit_users` is on.

Guesses (the reference leaves these open), besides those in workos_truth:
- The visibility lag withholds every event younger than `visibility_lag` seconds from every
  /events read (the reference says "ascending cursor reads"; the server serves only those).
- An `after`/`before` id that names nothing is placed where its id would sort.
- `events` matches exact type names (no wildcards); a 401 body is `{"message": ...}`.
- /directory_users with neither `directory` nor `group` is refused with 422.
- The 429s of the per-directory limit carry no Retry-After (Open point §5); scripted faults
  carry one when told to.
- /events `list_metadata.after` is null when nothing follows, even after a full page;
  `organization_id` matches `data.organization_id`.
- Retention (90 days, 30 per request) is not enforced.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from tests.standins.server import Gate, StandIn, send_json
from tests.standins.workos_truth import Object, WorkOSTruth

Answer = tuple[int, Any]
LIST_PATHS = {
    "/directories": "directories",
    "/directory_users": "users",
    "/directory_groups": "groups",
}


class ApiError(Exception):
    def __init__(self, status: int, document: Any) -> None:
        self.status, self.document = status, document


def _unprocessable(field: str, code: str = "invalid") -> ApiError:
    return ApiError(
        422, {"message": "Validation failed", "errors": [{"code": code, "field": field}]}
    )


class WorkOSStandIn(StandIn):
    def __init__(
        self,
        api_key: str,
        truth: WorkOSTruth | None = None,
        *,
        visibility_lag: float = 0.0,
        rate_limit_users: bool = False,
        events_delay: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.truth = truth or WorkOSTruth()
        self.visibility_lag = visibility_lag
        self.rate_limit_users = rate_limit_users
        self.events_delay = events_delay  # seconds before each /events answer (a slow API)
        self.gates: list[Gate] = []  # requests held until the test opens them
        # Directories GET /directories leaves out while GET /directories/{id} still finds
        # them: a listing is not a snapshot (provider-apis.md §4.1).
        self.unlisted: set[str] = set()
        self._recent: dict[str, deque[float]] = {}
        super().__init__()

    @classmethod
    def running(cls, api_key: str, **options: Any) -> AbstractContextManager[WorkOSStandIn]:
        return cls(api_key, **options).served()

    async def _serve(self, scope: Scope, _receive: Receive, send: Send) -> None:
        query = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
        if scope["path"] == "/events" and self.events_delay:
            await asyncio.sleep(self.events_delay)
        for gate in self.gates:
            await gate.passing(scope["path"])
        try:
            status, document = self.answer(scope["method"], scope["path"], query, _auth(scope))
        except ApiError as error:
            status, document = error.status, error.document
        await send_json(send, status, document, {"x-request-id": "standin"})

    def answer(self, method: str, path: str, query: dict[str, str], auth: str | None) -> Answer:
        """The API, pure over the truth: (status, JSON document)."""
        if auth != f"Bearer {self.api_key}":
            raise ApiError(401, {"message": "Unauthorized"})
        if method != "GET":
            raise ApiError(405, {"message": "Method not allowed"})
        with self.truth.lock:
            if path == "/events":
                return 200, self._events(query)
            if path in LIST_PATHS:
                return 200, self._list(path, query)
            prefix, _, object_id = path.rpartition("/")
            found = getattr(self.truth, LIST_PATHS.get(prefix, "none"), {}).get(object_id)
            if found is None:
                raise ApiError(404, {"message": "Not found"})
            return 200, found

    def _list(self, path: str, query: dict[str, str]) -> Object:
        truth = self.truth
        if path == "/directories":
            items = [d for d in truth.directories.values() if d["id"] not in self.unlisted]
        elif path == "/directory_users":
            items = self._users(query)
        else:
            items = _groups(truth, query)
        return paginate(items, query)

    def _users(self, query: dict[str, str]) -> list[Object]:
        truth, directory, group = self.truth, query.get("directory"), query.get("group")
        if not directory and not group:
            raise _unprocessable("directory", "required")
        scope = directory or truth.groups.get(group or "", {}).get("directory_id", "")
        if self.rate_limit_users and not self._admit(scope):
            raise ApiError(429, "Ratelimited")
        members = {u for g, u in truth.memberships if g == group}
        return [
            u
            for u in truth.users.values()
            if (not directory or u["directory_id"] == directory)
            and (not group or u["id"] in members)
        ]

    def _admit(self, directory: str) -> bool:
        """4 requests per second per directory (sliding window)."""
        now = time.monotonic()
        window = self._recent.setdefault(directory, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= 4:
            return False
        window.append(now)
        return True

    def _events(self, query: dict[str, str]) -> Object:
        kinds = {k for k in query.get("events", "").split(",") if k}
        if not kinds:
            raise _unprocessable("events", "required")
        if "after" in query and "range_start" in query:
            raise _unprocessable("after")
        limit = _limit(query)
        start, end = _moment(query, "range_start"), _moment(query, "range_end")
        visible_until = self.truth.clock() - self.visibility_lag
        after = query.get("after", "")
        org = query.get("organization_id")
        picked: list[Object] = []
        first = bisect.bisect_right(self.truth.events, after, key=lambda s: str(s.event["id"]))
        for stored in itertools.islice(self.truth.events, first, None):
            event = stored.event
            if stored.created > visible_until:
                break  # events are stored in creation order
            if event["id"] <= after or event["event"] not in kinds:
                continue
            if (start and stored.created < start) or (end and stored.created >= end):
                continue
            if org and event["data"].get("organization_id") != org:
                continue
            picked.append(event)
            if len(picked) > limit:
                break
        more = len(picked) > limit
        page = picked[:limit]
        return {
            "object": "list",
            "data": page,
            "list_metadata": {"after": page[-1]["id"] if more else None},
        }


def _groups(truth: WorkOSTruth, query: dict[str, str]) -> list[Object]:
    directory, user = query.get("directory"), query.get("user")
    groups = {g for g, u in truth.memberships if u == user}
    return [
        g
        for g in truth.groups.values()
        if (not directory or g["directory_id"] == directory) and (not user or g["id"] in groups)
    ]


def paginate(items: Sequence[Object], query: dict[str, str]) -> Object:
    """WorkOS list pagination over `items` (any order; sorted here by id = creation).
    `list_metadata.before`/`after` name the page's first/last item when anything lies
    beyond it in that direction, else null."""
    limit, order = _limit(query), query.get("order", "desc")
    if order not in ("asc", "desc", "normal"):
        raise _unprocessable("order")
    before, after = query.get("before"), query.get("after")
    if order == "normal":  # newest first, but `after` goes to newer records
        before, after = after, before
    full = sorted(items, key=lambda i: i["id"], reverse=order != "asc")
    ahead: Callable[[str, str], bool] = (
        (lambda a, b: a > b) if order == "asc" else (lambda a, b: a < b)
    )
    window = [
        i
        for i in full
        if (not after or ahead(i["id"], after)) and (not before or ahead(before, i["id"]))
    ]
    page = window[-limit:] if before and not after else window[:limit]
    earlier = page[0]["id"] if page and full.index(page[0]) > 0 else None
    later = page[-1]["id"] if page and full.index(page[-1]) < len(full) - 1 else None
    if order == "normal":
        earlier, later = later, earlier
    metadata = {"before": earlier, "after": later}
    return {"object": "list", "data": page, "list_metadata": metadata}


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit", "10")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise _unprocessable("limit")
    return int(raw)


def _moment(query: dict[str, str], name: str) -> float | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _unprocessable(name) from None


def _auth(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None
