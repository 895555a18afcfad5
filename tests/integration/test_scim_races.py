"""Two `dsync scim` OS processes (their own pools, LISTEN connections and producers)
create the same userNames in parallel: the worker decides in the applying transaction, so
each name gets exactly one 201 and 409 for the rest, exactly one row and one account.
Replaying the log decides the same way."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.access_support import AccessHarness
from tests.processes import DsyncProcess, start_scim
from tests.scim_stack import client, connect, okta_user, running_scim
from worker.replay import rebuild

pytestmark = [pytest.mark.db, pytest.mark.kafka]

NAMES = 4
COPIES = 50  # per name, split over the two processes (the issue: "50 times in parallel")


@asynccontextmanager
async def two_scim_processes(access: AccessHarness) -> AsyncIterator[tuple[str, str]]:
    """Two `dsync scim` processes on this test's database and topic; their root URLs.
    Both are stopped (SIGTERM) and must exit 0."""
    async with AsyncExitStack() as stack:
        servers = []
        for _ in range(2):
            server = await start_scim(access.settings, scim_commit_timeout_seconds="40")
            stack.push_async_callback(_killed, server.running)
            servers.append(server)
        yield servers[0].url, servers[1].url
        codes = [await server.running.terminate() for server in servers]
        assert codes == [0, 0], [server.running.text()[-2000:] for server in servers]


async def _killed(process: DsyncProcess) -> None:
    process.kill()
    await process.exited()


async def test_parallel_creates_of_one_user_name_give_one_201(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_race")
    did, token = directory["directory_id"], directory["token"]
    async with (
        two_scim_processes(access) as (first, second),
        client(first, did, token) as a,
        client(second, did, token) as b,
    ):
        requests = [
            (a if copy % 2 else b).post(
                "/Users",
                json=okta_user(f"User{n}@Race.test" if copy % 2 else f"user{n}@race.test"),
            )
            for n in range(NAMES)
            for copy in range(COPIES)
        ]
        answers = await asyncio.gather(*requests)

    per_name: dict[int, Counter[int]] = {}
    for index, answer in enumerate(answers):
        per_name.setdefault(index // COPIES, Counter())[answer.status_code] += 1
    assert all(c == Counter({201: 1, 409: COPIES - 1}) for c in per_name.values()), per_name
    created = {a.json()["id"] for a in answers if a.status_code == 201}
    rows = await access.db.fetch(
        "SELECT lower(name) AS name, count(*) FROM dsync_internal.scim_resources"
        " WHERE directory_id = $1 GROUP BY 1",
        did,
    )
    assert sorted(r["name"] for r in rows) == [f"user{n}@race.test" for n in range(NAMES)]
    assert all(r["count"] == 1 for r in rows)
    users = await access.db.fetch("SELECT id FROM dsync.users WHERE directory_id = $1", did)
    assert {u["id"] for u in users} == created
    outcomes = await access.db.fetch(
        "SELECT status, count(*) FROM dsync_internal.scim_outcomes WHERE directory_id = $1"
        " GROUP BY status ORDER BY status",
        did,
    )
    assert [(r["status"], r["count"]) for r in outcomes] == [
        (201, NAMES),
        (409, NAMES * (COPIES - 1)),
    ]
    accounts = await access.db.fetch(
        "SELECT directory_user_id, status FROM dsync.accounts WHERE organization_id = 'org_race'"
    )
    assert sorted((a["directory_user_id"], a["status"]) for a in accounts) == sorted(
        (uid, "active") for uid in created
    )


async def test_a_rebuild_decides_every_scim_write_as_it_was_decided(
    access: AccessHarness, database_url: str
) -> None:
    """`dsync rebuild` empties the directory tables and replays the log: the SCIM writes
    that were accepted apply again and the refused ones stay refused, whatever the state
    met on the way (a re-judged create would find its own resource and be refused)."""
    directory = await connect(database_url, "org_rebuild")
    did, token = directory["directory_id"], directory["token"]
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    async with running_scim(settings) as root, client(root, did, token) as scim:
        first = await scim.post("/Users", json=okta_user("kept@x.test"))
        duplicate = await scim.post("/Users", json=okta_user("KEPT@x.test"))
        other = await scim.post("/Users", json=okta_user("other@x.test"))
        group = await scim.post(
            "/Groups", json={"displayName": "g", "members": [{"value": first.json()["id"]}]}
        )
    before = await _directory_state(access, did)
    totals = await rebuild(access.settings)
    after = await _directory_state(access, did)

    assert [first.status_code, duplicate.status_code, other.status_code] == [201, 409, 201]
    assert group.status_code == 201
    assert totals["applied"] >= 3
    assert after == before
    assert len(after[0]) == 2
    assert after[1] == [(group.json()["id"], first.json()["id"])]


async def _directory_state(access: AccessHarness, did: str) -> tuple[list[Any], list[Any]]:
    users = await access.db.fetch(
        "SELECT id, email, state FROM dsync.users WHERE directory_id = $1 ORDER BY id", did
    )
    members = await access.db.fetch(
        "SELECT group_id, user_id FROM dsync.group_memberships WHERE directory_id = $1", did
    )
    return [tuple(u) for u in users], [tuple(m) for m in members]


async def test_a_replica_whose_clock_runs_behind_still_writes_last(
    access: AccessHarness, database_url: str
) -> None:
    """Replica A's clock runs an hour ahead: it creates the user; replica B (true time)
    then deactivates it. B's write is the later one, so it must win in the directory
    tables too (the merge rules keep the newest by time), not only in the SCIM view."""
    directory = await connect(database_url, "org_skew")
    did, token = directory["directory_id"], directory["token"]
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    ahead = lambda: datetime.now(UTC) + timedelta(hours=1)  # noqa: E731
    async with (
        running_scim(settings, clock=ahead) as fast,
        running_scim(settings) as true,
        client(fast, did, token) as a,
        client(true, did, token) as b,
    ):
        uid = (await a.post("/Users", json=okta_user("skew@x.test"))).json()["id"]
        patched = await b.patch(
            f"/Users/{uid}",
            json={"schemas": [], "Operations": [{"op": "replace", "value": {"active": False}}]},
        )
        seen = await a.get(f"/Users/{uid}")
    row = await access.db.fetchrow("SELECT state FROM dsync.users WHERE id = $1", uid)
    assert patched.status_code == 200
    assert seen.json()["active"] is False
    assert row is not None
    assert row["state"] == "inactive"
