"""Seat capacity (Base44 V1: "capacity check on add: fails if no seats are available"),
decided by the worker in the applying transaction: an add or a reactivation beyond
capacity is refused naming the limit, a deactivation or removal frees a seat, and two
SCIM replicas racing for the last seat get exactly one 201."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.access_support import CAUSE, ORGANIZATION_SCOPE, AccessHarness
from tests.integration.test_scim_profile import refusal, settings_of
from tests.scim_profiles import BASE44, base44, member, set_profile
from tests.scim_stack import client, connect, patch, running_scim
from worker.access import admin
from worker.replay import rebuild

pytestmark = [pytest.mark.db, pytest.mark.kafka]

DEACTIVATE = patch({"op": "replace", "value": {"active": False}})
REACTIVATE = patch({"op": "replace", "value": {"active": True}})


async def seats_taken(access: AccessHarness, directory_id: str, seat: str) -> int:
    found = await access.db.fetchval(
        "SELECT count(*) FROM dsync.users WHERE directory_id = $1 AND state = 'active'"
        " AND deleted_at IS NULL AND custom_attributes ->> 'seatType' = $2",
        directory_id,
        seat,
    )
    return int(found)


async def test_capacity_check_on_add_fails_if_no_seats_are_available(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_seats")
    did = directory["directory_id"]
    await set_profile(database_url, did, base44("v1"))
    async with (
        running_scim(settings_of(access)) as root,
        client(root, did, directory["token"]) as scim,
    ):
        first = await scim.post("/Users", json=member("a@s.test", seatType="pro"))
        second = await scim.post("/Users", json=member("b@s.test", seatType="pro"))
        unlimited = await scim.post("/Users", json=member("c@s.test", seatType="starter"))
        moved = await scim.patch(
            f"/Users/{unlimited.json()['id']}",
            json=patch({"op": "replace", "path": f"{BASE44}:seatType", "value": "pro"}),
        )
        freed = await scim.patch(f"/Users/{first.json()['id']}", json=DEACTIVATE)
        third = await scim.post("/Users", json=member("d@s.test", seatType="pro"))
        reactivated = await scim.patch(f"/Users/{first.json()['id']}", json=REACTIVATE)
        removed = await scim.delete(f"/Users/{third.json()['id']}")
        readded = await scim.patch(f"/Users/{first.json()['id']}", json=REACTIVATE)
        # A new capacity: the kept counts are forgotten and counted again.
        grown = base44("v1", seats={"attribute": "seatType", "capacity": {"pro": 2}})
        await set_profile(database_url, did, grown)
        fourth = await scim.post("/Users", json=member("e@s.test", seatType="pro"))
        fifth = await scim.post("/Users", json=member("f@s.test", seatType="pro"))

    assert first.status_code == 201, first.text
    refusal(second, 403, "no pro seat left", "capacity is 1")
    assert unlimited.status_code == 201, unlimited.text
    refusal(moved, 403, "no pro seat left", "capacity is 1")
    assert freed.status_code == 200, freed.text
    assert third.status_code == 201, third.text
    refusal(reactivated, 403, "no pro seat left", "capacity is 1")
    assert removed.status_code == 204, removed.text
    assert readded.status_code == 200, readded.text
    assert readded.json()["active"] is True
    assert fourth.status_code == 201, fourth.text
    refusal(fifth, 403, "no pro seat left", "capacity is 2")
    assert await seats_taken(access, did, "pro") == 2
    kept = await access.db.fetch(
        "SELECT seat, taken FROM dsync_internal.scim_seat_counts WHERE directory_id = $1", did
    )
    assert {r["seat"]: r["taken"] for r in kept if r["taken"]} == {"pro": 2, "starter": 1}
    assert (await access.account(first.json()["id"]))["status"] == "active"


async def test_the_last_seat_goes_to_exactly_one_of_two_racing_replicas(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_race")
    did, token = directory["directory_id"], directory["token"]
    await set_profile(database_url, did, base44("v1"))
    settings = settings_of(access)
    async with (
        running_scim(settings) as one,
        running_scim(settings) as two,
        client(one, did, token) as left,
        client(two, did, token) as right,
    ):
        taken = await left.post("/Users", json=member("first@r.test", seatType="builder"))
        answers = await asyncio.gather(
            *(
                side.post("/Users", json=member(f"racer{n}@r.test", seatType="builder"))
                for n, side in enumerate((left, right, left, right))
            )
        )

    assert taken.status_code == 201, taken.text
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 403, 403, 403], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 403:
            refusal(answer, 403, "no builder seat left", "capacity is 2")
    assert await seats_taken(access, did, "builder") == 2
    outcomes = await access.db.fetch(
        "SELECT status FROM dsync_internal.scim_outcomes WHERE directory_id = $1", did
    )
    assert sorted(r["status"] for r in outcomes) == [201, 201, 403, 403, 403]
    # A replay decides the same way, even once the capacity has grown since.
    holders = await _builders(access, did)
    await set_profile(
        database_url, did, base44("v1", seats={"attribute": "seatType", "capacity": {"builder": 9}})
    )
    await rebuild(access.settings)
    assert await _builders(access, did) == holders
    assert len(holders) == 2


async def _builders(access: AccessHarness, did: str) -> list[str]:
    rows = await access.db.fetch(
        "SELECT id FROM dsync.users WHERE directory_id = $1 AND deleted_at IS NULL"
        " AND custom_attributes ->> 'seatType' = 'builder' ORDER BY id",
        did,
    )
    return [r["id"] for r in rows]


async def test_profile_role_feeds_the_access_model_with_approval_for_elevated_roles(
    access: AccessHarness, database_url: str
) -> None:
    organization = "org_roles_source"
    directory = await connect(database_url, organization)
    did = directory["directory_id"]
    await set_profile(database_url, did, base44("v2"))
    rules: list[dict[str, Any]] = [
        {"source_attribute": "role", "match_value": "admin", "role": "admin"},
        {"source_attribute": "role", "match_value": "viewer", "role": "viewer"},
    ]
    await access.admin(admin.replace_rules, organization, rules, CAUSE)
    await access.admin(admin.update_policy, organization, {"require_role_approval": True}, CAUSE)
    async with (
        running_scim(settings_of(access)) as root,
        client(root, did, directory["token"]) as scim,
    ):
        viewer = (await scim.post("/Users", json=member("v@a.test", role="viewer"))).json()
        boss = (await scim.post("/Users", json=member("b@a.test", role="admin"))).json()
        account = (await access.account(boss["id"]))["id"]
        await access.issue_credentials(account)
        pending = await access.db.fetch(
            "SELECT role, status FROM dsync.role_approvals WHERE account_id = $1", account
        )
        before_approval = await access.org_role(account)
        await access.admin(admin.decide, account, ORGANIZATION_SCOPE, "admin", True, CAUSE)
        approved = await access.org_role(account)
        # Okta's unassign and re-assign (reference §10): deactivate, then reactivate.
        removed = await scim.patch(f"/Users/{boss['id']}", json=DEACTIVATE)
        after_removal = await access.account(boss["id"])
        credentials = await access.live_credentials(account)
        again = await scim.patch(f"/Users/{boss['id']}", json=REACTIVATE)

    assert (await access.org_role((await access.account(viewer["id"]))["id"]))[0] == "viewer"
    assert [tuple(p) for p in pending] == [("admin", "pending")]
    assert before_approval[0] == "member"
    assert approved[0] == "admin"
    assert removed.status_code == 200, removed.text
    assert after_removal["status"] == "deactivated"
    assert credentials == {"sessions": 0, "api_keys": 0, "device_tokens": 0}
    assert again.status_code == 200, again.text
    readded = await access.account(boss["id"])
    assert readded["status"] == "active"
