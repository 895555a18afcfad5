"""B8's directory: the same objects for the provider's truth (served by an indexed WorkOS
stand-in in a process of its own, so its CPU is not the reconciler's) and for the dsync
tables (loaded set-based), with 1% drift at the provider. Deterministic from the sizes."""

from __future__ import annotations

import bisect
import multiprocessing
import random
from dataclasses import dataclass
from typing import Any

from tests.standins.server import serve_in_thread
from tests.standins.workos import ApiError, WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth

DIRECTORY = "directory_b8"
ORGANIZATION = "org_b8"
API_KEY = "sk_bench_b8"
OLD = "2026-01-01T00:00:00.000Z"
NEWER = "2026-02-01T00:00:00.000Z"


@dataclass(frozen=True, slots=True)
class Shape:
    users: int
    groups: int
    memberships: int

    def user_id(self, n: int) -> str:
        return f"directory_user_b8{n:08d}"

    def group_id(self, n: int) -> str:
        return f"directory_group_b8{n:06d}"

    def pair(self, k: int) -> tuple[str, str]:
        """Membership k: distinct pairs for k < users * groups / 7."""
        return self.group_id((k + 7 * (k // self.users)) % self.groups), self.user_id(
            k % self.users
        )


def user(shape: Shape, n: int) -> dict[str, Any]:
    return {
        "object": "directory_user",
        "id": shape.user_id(n),
        "directory_id": DIRECTORY,
        "organization_id": ORGANIZATION,
        "idp_id": f"idp{n}",
        "email": f"user{n}@bench.example",
        "first_name": f"First{n}",
        "last_name": "Bench",
        "state": "active",
        "custom_attributes": {},
        "raw_attributes": {},
        "groups": [],
        "created_at": OLD,
        "updated_at": OLD,
    }


def group(shape: Shape, n: int) -> dict[str, Any]:
    return {
        "object": "directory_group",
        "id": shape.group_id(n),
        "idp_id": f"gidp{n}",
        "directory_id": DIRECTORY,
        "organization_id": ORGANIZATION,
        "name": f"Group {n}",
        "raw_attributes": {},
        "created_at": OLD,
        "updated_at": OLD,
    }


def truth_with_drift(shape: Shape, seed: int = 8) -> WorkOSTruth:
    """The provider's side: every object, then 1% of them changed (users renamed, removed,
    added; groups renamed; memberships removed and added) without webhooks."""
    truth = WorkOSTruth()
    truth.users = {shape.user_id(n): user(shape, n) for n in range(shape.users)}
    truth.groups = {shape.group_id(n): group(shape, n) for n in range(shape.groups)}
    truth.memberships = {shape.pair(k) for k in range(shape.memberships)}
    rng = random.Random(seed)
    share = max(1, shape.users // 1000)  # 0.1% of the users per kind of change
    for n in rng.sample(range(shape.users), 4 * share):
        truth.users[shape.user_id(n)].update(first_name=f"Renamed{n}", updated_at=NEWER)
    for n in rng.sample(range(shape.users), 3 * share):
        truth.users.pop(shape.user_id(n))
        truth.memberships = {m for m in truth.memberships if m[1] != shape.user_id(n)}
    for n in range(shape.users, shape.users + 3 * share):
        truth.users[shape.user_id(n)] = user(shape, n)
    for n in rng.sample(range(shape.groups), max(1, shape.groups // 100)):
        truth.groups[shape.group_id(n)].update(name=f"Renamed {n}", updated_at=NEWER)
    pairs = sorted(truth.memberships)
    for pair in rng.sample(pairs, max(1, shape.memberships // 200)):
        truth.memberships.discard(pair)
    for k in range(shape.memberships, shape.memberships + max(1, shape.memberships // 200)):
        if shape.pair(k)[1] in truth.users:
            truth.memberships.add(shape.pair(k))
    return truth


class IndexedStandIn(WorkOSStandIn):
    """The WorkOS stand-in's answers for ascending list reads, from sorted indexes (the
    general one sorts the whole directory for every page: fine for tests, not for 100,000
    users)."""

    def index(self) -> None:
        truth = self.truth
        self._ids = {"users": sorted(truth.users), "groups": sorted(truth.groups)}
        self._members: dict[str, list[str]] = {}
        for group_id, user_id in truth.memberships:
            self._members.setdefault(group_id, []).append(user_id)
        for ids in self._members.values():
            ids.sort()

    def _list(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        if query.get("order") != "asc" or path == "/directories":
            return super()._list(path, query)
        if path == "/directory_users" and self.rate_limit_users and not self._admit(DIRECTORY):
            raise ApiError(429, "Ratelimited")
        kind = "users" if path == "/directory_users" else "groups"
        ids = self._members.get(query["group"], []) if "group" in query else self._ids[kind]
        table = self.truth.users if kind == "users" else self.truth.groups
        start = bisect.bisect_right(ids, query["after"]) if "after" in query else 0
        limit = int(query.get("limit", "10"))
        page = [table[i] for i in ids[start : start + limit]]
        more = start + limit < len(ids)
        after = page[-1]["id"] if page and more else None
        return {"object": "list", "data": page, "list_metadata": {"before": None, "after": after}}


def _serve(shape: Shape, rate_limited: bool, urls: Any, ask: Any, stop: Any) -> None:
    standin = IndexedStandIn(API_KEY, truth_with_drift(shape), rate_limit_users=rate_limited)
    standin.truth.directories[DIRECTORY] = {"id": DIRECTORY, "object": "directory"}
    standin.index()
    with serve_in_thread(standin._app) as url:
        urls.put(url)
        while not stop.is_set():
            if ask.wait(0.05):
                ask.clear()
                urls.put((dict(standin.traffic.by_path), dict(standin.traffic.by_status)))


class StandInProcess:
    """The indexed stand-in in a child process; `count()` reads its request counters."""

    def __init__(self, shape: Shape, *, rate_limited: bool) -> None:
        context = multiprocessing.get_context("spawn")
        self._urls = context.Queue()
        self._ask, self._stop = context.Event(), context.Event()
        self._child = context.Process(
            target=_serve,
            args=(shape, rate_limited, self._urls, self._ask, self._stop),
            daemon=True,
        )
        self._child.start()
        self.url: str = self._urls.get(timeout=300)
        self.requests: dict[str, int] = {}  # by path
        self.statuses: dict[int, int] = {}

    def count(self) -> None:
        """Fill `requests` and `statuses` with the counts so far."""
        self._ask.set()
        self.requests, self.statuses = self._urls.get(timeout=60)

    def stop(self) -> None:
        self._stop.set()
        self._child.join(30)
