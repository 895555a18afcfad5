"""A person deleted through SCIM and created again with the same userName (an IdP that
unassigns and reassigns, or an admin fixing a mistake): the new SCIM resource is a new
directory user, and the person's account must follow it, active again, with the
credentials the deletion revoked still revoked. The rule is the access model's, so it
holds for any provider: a deletion and a re-creation in one worker batch still revoke,
and an account an administrator deactivated stays deactivated."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dsync.settings import Settings
from tests.access_support import (
    CAUSE,
    AccessHarness,
    person,
    user_created,
    user_deleted,
)
from tests.scim_stack import client, connect, okta_user, patch, running_scim
from tests.support import apply_events, envelope_of
from worker.access import admin
from worker.store import connect as connect_database

pytestmark = [pytest.mark.db, pytest.mark.kafka]

NONE_LIVE = {"sessions": 0, "api_keys": 0, "device_tokens": 0}


async def test_a_deleted_user_created_again_has_an_active_account(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_recreate")
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    async with (
        running_scim(settings) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        first = (await scim.post("/Users", json=okta_user("ada@x.test"))).json()["id"]
        account = await access.account(first)
        await access.issue_credentials(account["id"])
        deleted = await scim.delete(f"/Users/{first}")
        after_delete = await access.account(first)
        again = await scim.post("/Users", json=okta_user("Ada@X.test"))
        second = again.json()["id"]

    assert deleted.status_code == 204
    assert after_delete["status"] == "deactivated"
    assert again.status_code == 201, again.text
    assert second != first
    users = await access.db.fetch(
        "SELECT id, deleted_at IS NOT NULL AS deleted FROM dsync.users"
        " WHERE directory_id = $1 ORDER BY deleted",
        directory["directory_id"],
    )
    assert [tuple(u) for u in users] == [(second, False), (first, True)]
    accounts = await access.db.fetch(
        "SELECT id, directory_user_id, status FROM dsync.accounts"
        " WHERE organization_id = 'org_recreate'"
    )
    assert [tuple(a) for a in accounts] == [(account["id"], second, "active")]
    assert await access.live_credentials(account["id"]) == NONE_LIVE  # revoked stay revoked
    assert "account.reactivated" in await access.audit_actions(account["id"])


async def test_deactivate_then_activate_reactivates_the_account(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_reactivate")
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    async with (
        running_scim(settings) as root,
        client(root, directory["directory_id"], directory["token"]) as scim,
    ):
        uid = (await scim.post("/Users", json=okta_user("bob@x.test"))).json()["id"]
        account = await access.account(uid)
        await access.issue_credentials(account["id"])
        off = await scim.patch(
            f"/Users/{uid}", json=patch({"op": "replace", "value": {"active": False}})
        )
        inactive = await access.account(uid)
        on = await scim.patch(
            f"/Users/{uid}", json=patch({"op": "replace", "value": {"active": True}})
        )

    assert (off.status_code, on.status_code) == (200, 200)
    assert inactive["status"] == "deactivated"
    assert (await access.account(uid))["status"] == "active"
    assert await access.live_credentials(account["id"]) == NONE_LIVE


@pytest.fixture
async def stopped(worker_settings: Settings, database_url: str) -> AsyncIterator[AccessHarness]:
    """The access reads without a running worker: each `apply_events` runs one over what
    was produced, so events produced together are applied together."""
    conn = await connect_database(database_url)
    try:
        yield AccessHarness(worker_settings, conn)
    finally:
        await conn.close()


async def test_deleted_and_created_again_in_one_batch_still_revokes(
    stopped: AccessHarness,
) -> None:
    old, new = person("u_old", "ada@example.com"), person("u_new", "Ada@Example.com")
    await apply_events(stopped.settings, stopped.db, [envelope_of(user_created(old))])
    account = await stopped.account("u_old")
    await stopped.issue_credentials(account["id"])

    gone_and_back = [envelope_of(user_deleted(old)), envelope_of(user_created(new))]
    await apply_events(stopped.settings, stopped.db, gone_and_back)

    moved = await stopped.account("u_new")
    assert (moved["id"], moved["status"]) == (account["id"], "active")
    assert await stopped.live_credentials(account["id"]) == NONE_LIVE
    actions = await stopped.audit_actions(account["id"])
    assert actions.index("account.deactivated") < actions.index("account.reactivated")


async def test_an_account_an_administrator_deactivated_stays_deactivated(
    stopped: AccessHarness,
) -> None:
    old, new = person("u_old", "bo@example.com"), person("u_new", "bo@example.com")
    await apply_events(stopped.settings, stopped.db, [envelope_of(user_created(old))])
    account = (await stopped.account("u_old"))["id"]
    await stopped.admin(admin.deactivate_account, account, CAUSE)
    events = [envelope_of(user_deleted(old)), envelope_of(user_created(new))]
    await apply_events(stopped.settings, stopped.db, events)

    moved = await stopped.account("u_new")
    assert (moved["id"], moved["status"], moved["deactivated_by"]) == (
        account,
        "deactivated",
        "admin",
    )
