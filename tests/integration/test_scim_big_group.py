"""A 10,000-member group: adding or removing one member is one membership row, not a
rewrite of the group; `excludedAttributes=members` reads none of them. The 10,000 users
are created as SCIM events produced straight to the topic (the same events the SCIM
server produces, applied by the same worker), so setting up takes seconds, not minutes."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from schemas.envelope import EventEnvelope
from schemas.scim import ScimWrite
from tests.access_support import AccessHarness
from tests.scim_stack import client, connect, okta_user, patch, running_scim
from tests.support import eventually, produce

pytestmark = [pytest.mark.db, pytest.mark.kafka]

MEMBERS = 10_000


def _user_created(directory: dict[str, str], n: int) -> EventEnvelope:
    write = ScimWrite(
        kind="User",
        action="create",
        directory_id=directory["directory_id"],
        organization_id=directory["organization_id"],
        resource_id=str(uuid.uuid4()),
        base_version=None,
        resource={"userName": f"member{n}@big.test", "active": True},
        at=datetime.now(UTC),
    )
    return EventEnvelope(
        source="scim",
        event_id=str(uuid.uuid4()),
        event_type=write.event_type,
        directory_id=write.directory_id,
        received_at=datetime.now(UTC),
        body=write.model_dump_json().encode(),
    )


async def test_one_member_of_a_big_group_is_one_row(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_big")
    did = directory["directory_id"]
    users = [_user_created(directory, n) for n in range(MEMBERS)]
    began = time.perf_counter()
    await produce(access.settings.require_bootstrap_servers(), access.settings.events_topic, users)
    await eventually(
        lambda: access.db.fetchval(
            "SELECT count(*) FROM dsync_internal.scim_outcomes WHERE directory_id = $1", did
        ),
        lambda n: n >= MEMBERS,
        within=300,
    )
    print(f"worker applied {MEMBERS} SCIM creates in {time.perf_counter() - began:.1f} s; ", end="")
    ids = [ScimWrite.model_validate_json(e.body).resource_id for e in users]
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 60.0})
    async with running_scim(settings) as root, client(root, did, directory["token"]) as scim:
        began = time.perf_counter()
        group = await scim.post(
            "/Groups",
            json={"displayName": "everyone", "members": [{"value": i} for i in ids]},
            params={"excludedAttributes": "members"},
        )
        created_in = time.perf_counter() - began
        gid = group.json()["id"]
        newcomer = (await scim.post("/Users", json=okta_user("new@big.test"))).json()["id"]
        stamps = await _member_times(access, gid)
        timings = {}
        for name, operation in {
            "add one": patch({"op": "add", "path": "members", "value": [{"value": newcomer}]}),
            "remove one (Entra)": patch(
                {"op": "Remove", "path": "members", "value": [{"value": ids[0]}]}
            ),
        }.items():
            began = time.perf_counter()
            answer = await scim.patch(
                f"/Groups/{gid}", json=operation, params={"excludedAttributes": "members"}
            )
            timings[name] = time.perf_counter() - began
            assert answer.status_code == 200, answer.text
        began = time.perf_counter()
        lean = await scim.get(f"/Groups/{gid}", params={"excludedAttributes": "members"})
        timings["get without members"] = time.perf_counter() - began
        began = time.perf_counter()
        full = await scim.get(f"/Groups/{gid}")
        timings["get with members"] = time.perf_counter() - began

    after = await _member_times(access, gid)
    print(f"create with {MEMBERS} members {created_in * 1000:.0f} ms; ", end="")
    print("; ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
    assert group.status_code == 201, group.text
    assert "members" not in group.json()
    assert "members" not in lean.json()
    assert len(full.json()["members"]) == MEMBERS  # one in, one out
    changed = {user for user, at in after.items() if stamps.get(user) != at}
    assert changed == {newcomer, ids[0]}  # two rows written, the other 9,999 untouched


async def _member_times(access: AccessHarness, gid: str) -> dict[str, datetime]:
    rows = await access.db.fetch(
        "SELECT user_id, event_at FROM dsync_internal.memberships WHERE group_id = $1", gid
    )
    return {row["user_id"]: row["event_at"] for row in rows}
