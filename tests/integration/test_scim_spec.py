"""Okta's SPEC test (reference §12: 12 requests from Runscope's script) replayed in order over
HTTP against the live stack (SCIM server -> broker -> worker -> PostgreSQL), then the tail of
Okta's CRUD test (name change, deactivate, reactivate, unassign), asserting the SCIM answers,
the directory tables, the accounts and the revoked credentials afterwards.

Stand-in notes: the SPEC variables come from Okta's `Initial_Script_Spec.txt`, which draws a
random `Runscope###Xxxx###@atko.com` userName; the values below follow that shape. Step 10's
600 ms bound is optional in Okta's suite and is checked here as a generous upper bound only
(the machine is shared), not as a performance claim."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.access_support import AccessHarness
from tests.scim_stack import USER_SCHEMA, client, connect, okta_user, patch, running_scim

pytestmark = [pytest.mark.db, pytest.mark.kafka]

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def runscope_user(user_name: str) -> dict[str, Any]:
    """The SPEC test's create body: names, one work email, active, a password."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Runscope", "familyName": "Tester"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "active": True,
        "password": "1mP4ssw0rd",
    }


def assert_spec_user(body: dict[str, Any]) -> None:
    """The fields every SPEC step checks on a returned user."""
    assert isinstance(body["id"], str)
    assert body["id"]
    assert body["name"]["givenName"]
    assert body["name"]["familyName"]
    assert body["userName"]
    assert isinstance(body["active"], bool)
    assert body["emails"][0]["value"]


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json()["schemas"] == [ERROR_SCHEMA]
    assert response.json()["status"] == str(status)
    assert response.json()["detail"]


async def spec_sequence(scim: httpx.AsyncClient, unauthenticated: httpx.AsyncClient) -> str:
    """Steps 1-12; returns the id of the user step 6 created."""
    first = await scim.get("/Users", params={"count": 1, "startIndex": 1})  # 1
    assert first.status_code == 200
    listed = first.json()
    assert listed["schemas"] == [LIST_SCHEMA]
    assert [type(listed[k]) for k in ("itemsPerPage", "startIndex", "totalResults")] == [int] * 3
    assert listed["itemsPerPage"] == 1
    assert_spec_user(listed["Resources"][0])
    seeded = listed["Resources"][0]
    again = await scim.get(f"/Users/{seeded['id']}")  # 2
    assert again.status_code == 200
    assert again.json()["id"] == seeded["id"]
    assert_spec_user(again.json())
    for _step in (3, 5):
        unknown = await scim.get(
            "/Users", params={"filter": f'userName eq "{uuid.uuid4()}@atko.com"'}
        )
        assert unknown.status_code == 200
        assert unknown.json()["totalResults"] == 0
    assert_error(await scim.get(f"/Users/{uuid.uuid4()}"), 404)  # 4
    user_name = f"Runscope{uuid.uuid4().hex[:3]}Spec{uuid.uuid4().hex[:3]}@atko.com"
    created = await scim.post(  # 6: Okta sends this one as plain JSON
        "/Users",
        json=runscope_user(user_name),
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["active"] is True
    assert USER_SCHEMA in created.json()["schemas"]
    assert_spec_user(created.json())
    uid = str(created.json()["id"])
    read = await scim.get(f"/Users/{uid}")  # 7
    assert read.status_code == 200
    for key in ("id", "userName", "name", "active", "emails"):
        assert read.json()[key] == created.json()[key]
    duplicate = await scim.post("/Users", json=runscope_user(user_name))  # 8
    assert duplicate.status_code == 409, duplicate.text
    upper = await scim.get("/Users", params={"filter": f'userName eq "{user_name.upper()}"'})  # 9
    assert upper.status_code == 200
    assert upper.json()["totalResults"] == 1  # the intent: userName is case-insensitive
    assert upper.json()["Resources"][0]["id"] == uid
    groups = await scim.get("/Groups")  # 10
    assert groups.status_code == 200
    assert groups.elapsed.total_seconds() < 5
    assert_error(await unauthenticated.get("/Users"), 401)  # 11
    assert_error(await scim.get(f"/Users/{uuid.uuid4()}"), 404)  # 12
    return uid


async def test_okta_spec_sequence_then_crud(access: AccessHarness, database_url: str) -> None:
    directory = await connect(database_url, "org_okta_spec")
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    async with running_scim(settings) as root:
        scim = client(root, directory["directory_id"], directory["token"])
        unauthenticated = client(root, directory["directory_id"], None)
        unauthenticated.headers["Authorization"] = "non-token"
        async with scim, unauthenticated:
            seeded = await scim.post("/Users", json=okta_user("seed@atko.com"))
            assert seeded.status_code == 201, seeded.text
            uid = await spec_sequence(scim, unauthenticated)
            account = await access.account(uid)
            await access.issue_credentials(account["id"])
            current = (await scim.get(f"/Users/{uid}")).json()
            renamed = {**current, "name": {"givenName": "Renamed", "familyName": "Tester"}}
            assert (await scim.put(f"/Users/{uid}", json=renamed)).status_code == 200
            off = patch({"op": "replace", "value": {"active": False}})
            on = patch({"op": "replace", "value": {"active": True}})
            assert (await scim.patch(f"/Users/{uid}", json=off)).json()["active"] is False
            deactivated = (await access.account(uid))["status"]
            assert (await scim.patch(f"/Users/{uid}", json=on)).json()["active"] is True
            reactivated = (await access.account(uid))["status"]
            unassigned = await scim.patch(f"/Users/{uid}", json=off)  # Okta's unassignment

    assert unassigned.json()["active"] is False
    assert (deactivated, reactivated) == ("deactivated", "active")
    rows = await access.db.fetch(
        "SELECT id, provider, state, first_name, email FROM dsync.users WHERE directory_id = $1",
        directory["directory_id"],
    )
    assert {(r["email"], r["provider"], r["state"]) for r in rows} == {
        (current["userName"], "scim", "inactive"),
        ("seed@atko.com", "scim", "active"),
    }
    assert {r["id"]: r["first_name"] for r in rows}[uid] == "Renamed"
    assert (await access.account(uid))["status"] == "deactivated"
    assert (await access.account(seeded.json()["id"]))["status"] == "active"
    assert await access.live_credentials(account["id"]) == {
        "sessions": 0,
        "api_keys": 0,
        "device_tokens": 0,
    }
