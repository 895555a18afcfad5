"""Who may call a SCIM directory: a token reaches only its own directory; a missing,
wrong, revoked or other directory's token gets 401 with a SCIM Error body; rotation keeps
the old token working until it is revoked. Also the commit deadline: no worker, no 2xx."""

from __future__ import annotations

import time

import pytest

from tests.access_support import AccessHarness, run_dsync
from tests.scim_stack import client, connect, okta_user, running_scim

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def test_a_token_reaches_only_its_own_directory(
    access: AccessHarness, database_url: str
) -> None:
    mine = await connect(database_url, "org_a")
    theirs = await connect(database_url, "org_b")
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    async with running_scim(settings) as root:
        async with client(root, theirs["directory_id"], theirs["token"]) as owner:
            victim = (await owner.post("/Users", json=okta_user("eve@b.test"))).json()
        async with client(root, theirs["directory_id"], mine["token"]) as intruder:
            listed = await intruder.get("/Users")
            read = await intruder.get(f"/Users/{victim['id']}")
            written = await intruder.post("/Users", json=okta_user("mallory@b.test"))
            deleted = await intruder.delete(f"/Users/{victim['id']}")
            discovery = await intruder.get("/Schemas")
        async with client(root, mine["directory_id"], mine["token"]) as own:
            # Its own directory's URL with another directory's resource id: not found.
            cross = await own.get(f"/Users/{victim['id']}")
            cross_patch = await own.patch(
                f"/Users/{victim['id']}",
                json={"schemas": [], "Operations": [{"op": "replace", "value": {"active": False}}]},
            )
            cross_member = await own.post(
                "/Groups", json={"displayName": "g", "members": [{"value": victim["id"]}]}
            )
        async with client(root, mine["directory_id"], None) as anonymous:
            missing = await anonymous.get("/Users")
        async with client(root, mine["directory_id"], mine["token"] + "x") as wrong:
            mistyped = await wrong.get("/Users")

    for refused in (listed, read, written, deleted, discovery, missing, mistyped):
        assert refused.status_code == 401, refused.text
        assert refused.json()["status"] == "401"
        assert refused.json()["detail"]
        assert refused.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert cross.status_code == 404
    assert cross_patch.status_code == 404
    assert cross_member.status_code == 400
    assert cross_member.json()["scimType"] == "invalidValue"
    victim_row = await access.db.fetchrow(
        "SELECT state, deleted_at FROM dsync.users WHERE id = $1", victim["id"]
    )
    assert victim_row is not None
    assert victim_row["state"] == "active"
    assert victim_row["deleted_at"] is None
    assert (
        await access.db.fetchval(
            "SELECT count(*) FROM dsync.users WHERE directory_id = $1", theirs["directory_id"]
        )
        == 1
    )


async def test_rotation_keeps_the_old_token_until_revoked(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_rotate")
    did = directory["directory_id"]
    code, out, err = await run_dsync(database_url, "scim", "token", "rotate", "--directory", did)
    assert code == 0, err
    import json

    new = json.loads(out)["token"]
    async with (
        running_scim(access.settings) as root,
        client(root, did, directory["token"]) as old_client,
        client(root, did, new) as new_client,
    ):
        both = [(await c.get("/Users")).status_code for c in (old_client, new_client)]
        code, _, err = await run_dsync(database_url, "scim", "token", "revoke", "--directory", did)
        assert code == 0, err
        after = [(await c.get("/Users")).status_code for c in (old_client, new_client)]
    stored = await access.db.fetch("SELECT token_sha256 FROM dsync_internal.scim_tokens")
    assert both == [200, 200]
    assert after == [401, 200]
    assert all(new.encode() not in bytes(row["token_sha256"]) for row in stored)


async def test_a_write_the_pipeline_does_not_commit_in_time_is_a_503(
    worker_settings: object, database_url: str
) -> None:
    """No worker runs: the event is produced but never applied."""
    from dsync.settings import Settings

    assert isinstance(worker_settings, Settings)
    directory = await connect(database_url, "org_stalled")
    settings = worker_settings.model_copy(update={"scim_commit_timeout_seconds": 1.5})
    async with (
        running_scim(settings) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        began = time.monotonic()
        answer = await scim.post("/Users", json=okta_user("late@x.test"))
        waited = time.monotonic() - began
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["status"] == "503"
    assert 1.5 <= waited < 10
