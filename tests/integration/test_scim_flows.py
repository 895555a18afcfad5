"""The Okta and Entra flows of the SCIM reference (§10) over HTTP against the live stack:
SCIM server -> broker -> worker -> PostgreSQL, asserting the SCIM answers, the directory
tables, the accounts and the revoked credentials."""

from __future__ import annotations

from typing import Any

import pytest

from tests.access_support import AccessHarness
from tests.scim_stack import (
    ENTERPRISE,
    GROUP_SCHEMA,
    client,
    connect,
    entra_user,
    okta_user,
    patch,
    running_scim,
)

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def settings_of(access: AccessHarness) -> Any:
    return access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})


async def test_okta_create_get_replace_deactivate(access: AccessHarness, database_url: str) -> None:
    directory = await connect(database_url, "org_okta")
    async with (
        running_scim(settings_of(access)) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        missing = await scim.get("/Users", params={"filter": 'userName eq "ada@example.test"'})
        created = await scim.post(
            "/Users",
            json=okta_user("ada@example.test"),
            headers={"Content-Type": "application/json"},
        )
        uid = created.json()["id"]
        got = await scim.get(f"/Users/{uid}")
        upper = await scim.get(
            "/Users",
            params={"filter": 'userName eq "ADA@EXAMPLE.TEST"', "startIndex": 1, "count": 100},
        )
        again = await scim.post("/Users", json=okta_user("Ada@Example.Test"))
        account = await access.account(uid)
        await access.issue_credentials(account["id"])
        replaced_body = {**got.json(), "name": {"givenName": "Augusta", "familyName": "King"}}
        replaced = await scim.put(f"/Users/{uid}", json=replaced_body)
        deactivated = await scim.patch(
            f"/Users/{uid}", json=patch({"op": "replace", "value": {"active": False}})
        )
        still_visible = await scim.get(
            "/Users", params={"filter": 'userName eq "ada@example.test"'}
        )
        inactive_account = await access.account(uid)
        reactivated = await scim.patch(
            f"/Users/{uid}", json=patch({"op": "replace", "value": {"active": True}})
        )
        active_account = await access.account(uid)
        await scim.patch(f"/Users/{uid}", json=patch({"op": "replace", "value": {"active": False}}))
        bogus = await scim.get("/Users/7d1f3c2a-5b8e-4c1d-9a0f-2e6b4c8d1a37")

    assert missing.status_code == 200
    assert missing.json()["totalResults"] == 0
    assert missing.json()["Resources"] == []
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith("application/scim+json")
    assert created.headers["location"].endswith(f"/Users/{uid}")
    assert "password" not in created.json()
    assert created.json()["active"] is True
    assert got.status_code == 200
    assert got.json()["userName"] == "ada@example.test"
    assert upper.json()["totalResults"] == 1
    assert upper.json()["Resources"][0]["id"] == uid
    assert isinstance(upper.json()["itemsPerPage"], int)
    assert again.status_code == 409
    assert again.json()["scimType"] == "uniqueness"
    assert replaced.status_code == 200
    assert replaced.json()["name"]["givenName"] == "Augusta"
    assert replaced.headers["etag"] != got.headers["etag"]
    assert deactivated.status_code == 200
    assert deactivated.json()["active"] is False
    assert still_visible.json()["totalResults"] == 1
    assert bogus.status_code == 404
    assert bogus.json()["status"] == "404"
    assert bogus.json()["detail"]
    row = await access.db.fetchrow("SELECT * FROM dsync.users WHERE id = $1", uid)
    assert row is not None
    assert row["provider"] == "scim"
    assert row["state"] == "inactive"
    assert row["first_name"] == "Augusta"
    assert row["email"] == "ada@example.test"
    assert inactive_account["status"] == "deactivated"
    assert reactivated.json()["active"] is True
    assert active_account["status"] == "active"
    assert (await access.account(uid))["status"] == "deactivated"
    assert await access.live_credentials(account["id"]) == {
        "sessions": 0,
        "api_keys": 0,
        "device_tokens": 0,
    }
    users = await access.db.fetchval(
        "SELECT count(*) FROM dsync.users WHERE directory_id = $1", directory["directory_id"]
    )
    assert users == 1


async def test_entra_user_and_group_flow(access: AccessHarness, database_url: str) -> None:
    directory = await connect(database_url, "org_entra")
    async with (
        running_scim(settings_of(access)) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        grace = (await scim.post("/Users", json=entra_user("grace@contoso.test", "grace"))).json()
        alan = (await scim.post("/Users", json=entra_user("alan@contoso.test", "alan"))).json()
        by_external = await scim.get("/Users", params={"filter": 'externalId eq "grace"'})
        by_email = await scim.get(
            "/Users", params={"filter": 'emails[type eq "work"].value eq "GRACE@contoso.test"'}
        )
        updated = await scim.patch(
            f"/Users/{grace['id']}",
            json=patch(
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "gh@contoso.test",
                },
                {"op": "Replace", "path": "name.familyName", "value": "Murray"},
            ),
        )
        group = await scim.post(
            "/Groups",
            json={
                "schemas": [
                    GROUP_SCHEMA,
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
                ],
                "externalId": "8aa1a0c0-fake",
                "displayName": "Engineering",
                "meta": {"resourceType": "Group"},
            },
        )
        gid = group.json()["id"]
        same_name = await scim.post(
            "/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "ENGINEERING"}
        )
        add = patch(
            {"op": "Add", "path": "members", "value": [{"$ref": None, "value": grace["id"]}]},
            {"op": "Add", "path": "members", "value": [{"value": alan["id"]}]},
        )
        added = await scim.patch(f"/Groups/{gid}", json=add)
        removed = await scim.patch(
            f"/Groups/{gid}",
            json=patch({"op": "Remove", "path": "members", "value": [{"value": alan["id"]}]}),
        )
        renamed = await scim.patch(
            f"/Groups/{gid}",
            json=patch({"op": "Replace", "path": "displayName", "value": "Engineering EU"}),
        )
        lean = await scim.get(
            "/Groups",
            params={
                "filter": 'displayName eq "Engineering EU"',
                "excludedAttributes": "members",
            },
        )
        full = await scim.get(f"/Groups/{gid}")
        deactivated = await scim.patch(
            f"/Users/{alan['id']}",
            json=patch({"op": "Replace", "path": "active", "value": "False"}),
        )
        deleted = await scim.delete(f"/Users/{alan['id']}")
        gone = await scim.get(f"/Users/{alan['id']}")
        group_deleted = await scim.delete(f"/Groups/{gid}")
        group_gone = await scim.get(f"/Groups/{gid}")

    assert by_external.json()["totalResults"] == 1
    assert by_email.json()["Resources"][0]["id"] == grace["id"]
    assert updated.status_code == 200, updated.text
    assert updated.json()["emails"][0]["value"] == "gh@contoso.test"
    assert updated.json()[ENTERPRISE]["department"] == "Navy"
    assert group.status_code == 201, group.text
    assert same_name.status_code == 409
    assert same_name.json()["scimType"] == "uniqueness"
    assert added.status_code == 200
    assert {m["value"] for m in added.json()["members"]} == {
        grace["id"],
        alan["id"],
    }
    assert [m["value"] for m in removed.json()["members"]] == [grace["id"]]
    assert renamed.json()["displayName"] == "Engineering EU"
    assert lean.json()["totalResults"] == 1
    assert "members" not in lean.json()["Resources"][0]
    assert [m["value"] for m in full.json()["members"]] == [grace["id"]]
    assert deactivated.json()["active"] is False
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert group_deleted.status_code == 204
    assert group_gone.status_code == 404
    users = await access.db.fetch(
        "SELECT id, state, deleted_at, last_name FROM dsync.users WHERE directory_id = $1",
        directory["directory_id"],
    )
    by_id = {r["id"]: r for r in users}
    assert by_id[grace["id"]]["last_name"] == "Murray"
    assert by_id[grace["id"]]["state"] == "active"
    assert by_id[alan["id"]]["deleted_at"] is not None
    groups = await access.db.fetch("SELECT name, deleted_at FROM dsync.groups WHERE id = $1", gid)
    assert groups[0]["name"] == "Engineering EU"
    assert groups[0]["deleted_at"] is not None


async def test_discovery_describes_what_the_server_accepts(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_discovery")
    async with (
        running_scim(settings_of(access)) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        config = await scim.get("/ServiceProviderConfig")
        types = await scim.get("/ResourceTypes")
        user_type = await scim.get("/ResourceTypes/User")
        schemas = await scim.get("/Schemas")
        enterprise = await scim.get(f"/Schemas/{ENTERPRISE}")
        unknown = await scim.get("/Schemas/urn:nope")

    assert config.json()["patch"]["supported"] is True
    assert config.json()["etag"]["supported"] is True
    assert config.json()["bulk"]["supported"] is False
    assert {t["endpoint"] for t in types.json()["Resources"]} == {"/Users", "/Groups"}
    assert user_type.json()["schemaExtensions"][0]["schema"] == ENTERPRISE
    assert {s["id"] for s in schemas.json()["Resources"]} == {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        ENTERPRISE,
    }
    assert schemas.json()["totalResults"] == 3
    assert enterprise.status_code == 200
    assert unknown.status_code == 404
