"""Okta's SPEC test (reference §12), its 12 requests in order, over HTTP against the live
stack. Okta seeds nothing: a user must exist for request 1, so one is provisioned first."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.access_support import AccessHarness
from tests.scim_stack import USER_SCHEMA, client, connect, okta_user, running_scim

pytestmark = [pytest.mark.db, pytest.mark.kafka]

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
RUNSCOPE = "Runscope123Xyzw123@atko.com"


def _user_fields(user: dict[str, object]) -> None:
    assert {"id", "name", "userName", "active", "emails"} <= set(user)
    emails = user["emails"]
    assert isinstance(emails, list)
    assert emails[0]["value"]


async def test_okta_spec_sequence(access: AccessHarness, database_url: str) -> None:
    directory = await connect(database_url, "org_spec")
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    did, token = directory["directory_id"], directory["token"]
    async with running_scim(settings) as root, client(root, did, token) as scim:
        await scim.post("/Users", json=okta_user("seed@atko.com", "00useed"))
        first = await scim.get("/Users", params={"count": 1, "startIndex": 1})  # 1
        one = first.json()["Resources"][0]
        by_id = await scim.get(f"/Users/{one['id']}")  # 2
        unknown = await scim.get("/Users", params={"filter": 'userName eq "nobody@atko.com"'})
        bogus = await scim.get("/Users/010101")  # 4
        created = await scim.post(  # 6, as Okta sends it
            "/Users",
            json=okta_user(RUNSCOPE, "00urunscope"),
            headers={"Content-Type": "application/json"},
        )
        read_back = await scim.get(f"/Users/{created.json()['id']}")  # 7
        again = await scim.post("/Users", json=okta_user(RUNSCOPE, "00urunscope"))  # 8
        upper = await scim.get("/Users", params={"filter": f'userName eq "{RUNSCOPE.upper()}"'})
        began = time.perf_counter()
        groups = await scim.get("/Groups")  # 10
        groups_in = time.perf_counter() - began
        async with httpx.AsyncClient(base_url=f"{root}/scim/v2/directories/{did}") as raw:
            wrong = await raw.get("/Users", headers={"Authorization": "non-token"})  # 11
        bogus_again = await scim.get("/Users/010101")  # 12

    assert first.status_code == 200
    body = first.json()
    assert all(isinstance(body[k], int) for k in ("itemsPerPage", "startIndex", "totalResults"))
    _user_fields(one)
    assert by_id.status_code == 200
    assert by_id.json()["id"] == one["id"]
    _user_fields(by_id.json())
    assert unknown.status_code == 200
    assert unknown.json()["totalResults"] == 0
    for missing in (bogus, bogus_again):
        assert missing.status_code == 404
        assert missing.json()["schemas"] == [ERROR]
        assert missing.json()["detail"]
        assert missing.json()["status"] == "404"
    assert created.status_code == 201
    assert created.json()["active"] is True
    assert created.json()["schemas"] == [USER_SCHEMA]
    assert created.json()["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert read_back.json()["userName"] == RUNSCOPE
    assert again.status_code == 409
    assert upper.status_code == 200
    assert upper.json()["totalResults"] == 1
    assert groups.status_code == 200
    print(f"GET /Groups answered in {groups_in * 1000:.0f} ms (Okta asks for 600)")
    assert groups_in < 0.6
    assert wrong.status_code == 401
    assert wrong.json()["schemas"] == [ERROR]
    assert wrong.json()["status"] == "401"
    assert wrong.json()["detail"]
