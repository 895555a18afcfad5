"""Hostile input at the SCIM server: every one is a 4xx SCIM Error, never a 500, and none
reaches the event log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.access_support import AccessHarness
from tests.scim_stack import client, connect, okta_user, patch, running_scim

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def _hostile_requests(
    scim: httpx.AsyncClient, uid: str, gid: str
) -> dict[str, httpx.Response]:
    huge = b'{"userName": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    nul_body = okta_user("nul@x.test") | {"displayName": "Ada\u0000Lovelace"}
    surrogate = b'{"userName": "s@x.test", "displayName": "\\ud800"}'
    cases: dict[str, Any] = {
        "bad json": scim.post("/Users", content=b"{not json"),
        "json array": scim.post("/Users", content=b"[1, 2]"),
        "deep json": scim.post("/Users", content=b"[" * 100_000 + b"]" * 100_000),
        "huge body": scim.post("/Users", content=huge),
        "nul in body": scim.post("/Users", json=nul_body),
        "lone surrogate": scim.post("/Users", content=surrogate),
        "no userName": scim.post("/Users", json={"displayName": "x"}),
        "userName a number": scim.post("/Users", json={"userName": 7}),
        "name a string": scim.post("/Users", json={"userName": "n@x.test", "name": "Ada"}),
        "wrong media type": scim.post(
            "/Users", content=b"userName=x", headers={"Content-Type": "text/plain"}
        ),
        "unknown filter attribute": scim.get("/Users", params={"filter": 'title eq "b"'}),
        "half-known filter": scim.get(
            "/Users", params={"filter": 'userName eq "a" and title eq "b"'}
        ),
        "or filter": scim.get("/Users", params={"filter": 'userName eq "a" or userName eq "b"'}),
        "broken filter": scim.get("/Users", params={"filter": "userName eq"}),
        "nul in filter": scim.get("/Users", params={"filter": 'userName eq "a\u0000"'}),
        "gt on userName": scim.get("/Users", params={"filter": 'userName gt "a"'}),
        "count not a number": scim.get("/Users", params={"count": "lots"}),
        "nul in id": scim.get("/Users/abc%00def"),
        "stale If-Match": scim.patch(
            f"/Users/{uid}",
            json=patch({"op": "replace", "value": {"active": False}}),
            headers={"If-Match": 'W/"999"'},
        ),
        "garbage If-Match": scim.put(
            f"/Users/{uid}", json=okta_user("a@x.test"), headers={"If-Match": "zz"}
        ),
        "remove without path": scim.patch(f"/Users/{uid}", json=patch({"op": "remove"})),
        "no operations": scim.patch(f"/Users/{uid}", json={"schemas": []}),
        "bad op": scim.patch(f"/Users/{uid}", json=patch({"op": "explode", "path": "active"})),
        "member not a user": scim.post(
            "/Groups", json={"displayName": "g1", "members": [{"value": "not-a-user"}]}
        ),
        "members not a list": scim.patch(
            f"/Groups/{gid}", json=patch({"op": "add", "path": "members", "value": 3})
        ),
        "unknown endpoint": scim.get("/Bulk"),
        "filter on discovery": scim.get("/Schemas", params={"filter": 'id eq "x"'}),
    }
    return {name: await request for name, request in cases.items()}


async def test_hostile_input_is_a_4xx_scim_error(access: AccessHarness, database_url: str) -> None:
    directory = await connect(database_url, "org_hostile")
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    async with (
        running_scim(settings) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        uid = (await scim.post("/Users", json=okta_user("a@x.test"))).json()["id"]
        gid = (await scim.post("/Groups", json={"displayName": "team"})).json()["id"]
        answers = await _hostile_requests(scim, uid, gid)
        nul_directory = await scim.get(f"{root}/scim/v2/directories/a%00b/Users")
        after = await scim.get(f"/Users/{uid}")

    answers["nul in directory"] = nul_directory
    for name, answer in answers.items():
        assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text[:200])
        body = answer.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"], name
        assert body["status"] == str(answer.status_code), name
        assert body["detail"], name
    assert answers["huge body"].status_code == 413
    assert answers["stale If-Match"].status_code == 412
    assert answers["unknown filter attribute"].json()["scimType"] == "invalidFilter"
    assert answers["half-known filter"].json()["scimType"] == "invalidFilter"
    assert answers["nul in body"].status_code == 400
    assert after.json()["active"] is True  # nothing hostile changed the user
    outcomes = await access.db.fetchval(
        "SELECT count(*) FROM dsync_internal.scim_outcomes WHERE directory_id = $1",
        directory["directory_id"],
    )
    assert outcomes == 3  # two creates, and the group whose member is no user (refused: 400)
