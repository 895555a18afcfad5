"""Seed 001 (Base44) rules, each a test named after the rule, over HTTP against the live
stack (SCIM server -> broker -> worker -> PostgreSQL), with the rules declared as a
provisioning profile through `dsync scim profile set`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.access_support import CAUSE, ORGANIZATION_SCOPE, AccessHarness
from tests.scim_profiles import BASE44, base44, member, set_profile
from tests.scim_stack import client, connect, patch, running_scim
from worker.access import admin

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def settings_of(access: AccessHarness) -> Any:
    return access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})


def refusal(answer: httpx.Response, status: int, *named: str) -> None:
    """A SCIM Error with this status whose detail names each of `named`."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    for name in named:
        assert name in body["detail"], body["detail"]


async def users_named(access: AccessHarness, directory_id: str) -> int:
    found = await access.db.fetchval(
        "SELECT count(*) FROM dsync.users WHERE directory_id = $1", directory_id
    )
    return int(found)


async def test_do_not_mix_v1_and_v2_attributes_even_with_an_empty_value(
    access: AccessHarness, database_url: str
) -> None:
    v2 = await connect(database_url, "org_v2")
    v1 = await connect(database_url, "org_v1")
    await set_profile(database_url, v2["directory_id"], base44("v2"))
    await set_profile(database_url, v1["directory_id"], base44("v1"))
    async with running_scim(settings_of(access)) as root:
        async with client(root, v2["directory_id"], v2["token"]) as scim:
            seat_in_v2 = await scim.post("/Users", json=member("a@v2.test", seatType="builder"))
            empty_seat = await scim.post("/Users", json=member("b@v2.test", seatType=""))
            null_seat = await scim.post("/Users", json=member("c@v2.test", seatType=None))
            top_level = await scim.post("/Users", json={**member("d@v2.test"), "seatType": ""})
            created = await scim.post("/Users", json=member("e@v2.test", role="editor"))
            patched_in = await scim.patch(
                f"/Users/{created.json()['id']}",
                json=patch({"op": "replace", "path": f"{BASE44}:seatType", "value": None}),
            )
        async with client(root, v1["directory_id"], v1["token"]) as scim:
            role_in_v1 = await scim.post("/Users", json=member("f@v1.test", role="editor"))
            empty_limit = await scim.post("/Users", json=member("g@v1.test", creditLimit=None))
            in_v1 = await scim.post("/Users", json=member("h@v1.test", seatType="builder"))

    for refused in (seat_in_v2, empty_seat, null_seat, top_level, patched_in):
        refusal(refused, 400, "seatType", "v2")
    refusal(role_in_v1, 400, "role", "v1")
    refusal(empty_limit, 400, "creditLimit", "v1")
    assert created.status_code == 201, created.text
    assert created.json()[BASE44] == {"role": "editor"}
    assert BASE44 in created.json()["schemas"]
    assert in_v1.status_code == 201, in_v1.text
    assert await users_named(access, v2["directory_id"]) == 1
    assert await users_named(access, v1["directory_id"]) == 1


async def test_owner_member_and_guest_roles_cannot_be_assigned_via_scim(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_roles")
    await set_profile(database_url, directory["directory_id"], base44("v2"))
    async with (
        running_scim(settings_of(access)) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        refused = {
            role: await scim.post("/Users", json=member(f"{role}@r.test", role=role))
            for role in ("owner", "member", "guest")
        }
        viewer = await scim.post("/Users", json=member("v@r.test", role="viewer"))
        promoted = await scim.patch(
            f"/Users/{viewer.json()['id']}",
            json=patch({"op": "replace", "value": {f"{BASE44}:role": "owner"}}),
        )
        unknown = await scim.post("/Users", json=member("x@r.test", role="superuser"))
        got = await scim.get(f"/Users/{viewer.json()['id']}")
        served = await scim.get(f"/Schemas/{BASE44}")
        user_type = await scim.get("/ResourceTypes/User")

    for role, answer in refused.items():
        refusal(answer, 400, f"role {role}", "cannot be assigned via SCIM")
    refusal(promoted, 400, "role owner", "cannot be assigned via SCIM")
    refusal(unknown, 400, "role must be one of admin, editor, viewer")
    assert viewer.status_code == 201, viewer.text
    assert got.json()[BASE44] == {"role": "viewer"}
    assert served.status_code == 200, served.text
    role = next(a for a in served.json()["attributes"] if a["name"] == "role")
    assert role["canonicalValues"] == ["admin", "editor", "viewer"]
    extensions = [e["schema"] for e in user_type.json()["schemaExtensions"]]
    assert BASE44 in extensions


async def test_credit_limits_only_apply_to_admin_and_editor_roles(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_credits")
    await set_profile(database_url, directory["directory_id"], base44("v2"))
    async with (
        running_scim(settings_of(access)) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        viewer = await scim.post("/Users", json=member("v@c.test", role="viewer", creditLimit=5))
        no_role = await scim.post("/Users", json=member("n@c.test", creditLimit=5))
        zero = await scim.post("/Users", json=member("z@c.test", role="editor", creditLimit=0))
        text = await scim.post("/Users", json=member("t@c.test", role="editor", creditLimit="5"))
        editor = await scim.post("/Users", json=member("e@c.test", role="editor", creditLimit=500))
        uid = editor.json()["id"]
        demoted = await scim.patch(
            f"/Users/{uid}",
            json=patch({"op": "replace", "path": f"{BASE44}:role", "value": "viewer"}),
        )
        uncapped = await scim.patch(
            f"/Users/{uid}",
            json=patch(
                {"op": "remove", "path": f"{BASE44}:creditLimit"},
                {"op": "replace", "path": f"{BASE44}:role", "value": "viewer"},
            ),
        )

    refusal(viewer, 400, "creditLimit is only allowed with role admin or editor")
    refusal(no_role, 400, "creditLimit is only allowed with role admin or editor")
    refusal(zero, 400, "creditLimit must be at least 1")
    refusal(text, 400, "creditLimit must be an integer")
    refusal(demoted, 400, "creditLimit is only allowed with role admin or editor")
    assert editor.status_code == 201, editor.text
    assert editor.json()[BASE44] == {"role": "editor", "creditLimit": 500}
    assert uncapped.status_code == 200, uncapped.text
    assert uncapped.json()[BASE44] == {"role": "viewer"}
    row = await access.db.fetchrow("SELECT custom_attributes FROM dsync.users WHERE id = $1", uid)
    assert row is not None
    assert row["custom_attributes"]["role"] == "viewer"
    assert "creditLimit" not in row["custom_attributes"]


async def test_workspace_owners_cannot_be_updated_or_deactivated_via_scim(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_owner")
    await set_profile(database_url, directory["directory_id"], base44("v2"))
    async with (
        running_scim(settings_of(access)) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        owner = (await scim.post("/Users", json=member("o@o.test", role="admin"))).json()
        account = await access.account(owner["id"])
        # Promoted in dsync (Base44's dashboard), not by the IdP.
        await access.admin(admin.assign, account["id"], ORGANIZATION_SCOPE, "owner", CAUSE)
        replaced = await scim.put(f"/Users/{owner['id']}", json=member("o@o.test", role="viewer"))
        deactivated = await scim.patch(
            f"/Users/{owner['id']}", json=patch({"op": "replace", "value": {"active": False}})
        )
        deleted = await scim.delete(f"/Users/{owner['id']}")
        after = await scim.get(f"/Users/{owner['id']}")

    for answer in (replaced, deactivated, deleted):
        refusal(answer, 403, "owner", "never updated or deactivated via SCIM")
    assert after.json()[BASE44] == {"role": "admin"}
    assert after.json()["active"] is True
    assert (await access.account(owner["id"]))["status"] == "active"
    row = await access.db.fetchrow(
        "SELECT state, deleted_at FROM dsync.users WHERE id = $1", owner["id"]
    )
    assert row is not None
    assert (row["state"], row["deleted_at"]) == ("active", None)
