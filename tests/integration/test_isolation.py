"""Every identity is (provider, id): an event of one provider never changes another
provider's rows, accounts, roles or credentials, even when the two share the directory id,
the organization id, a user id, a group id and a group name.

For each ordered pair (A, B): B's directory is synced with accounts, an admin role through a
group mapping and live credentials; A's directory has the same id (and organization) and a
group of the same name. Then A removes a membership, deletes its group, deactivates and
deletes users, names B's user and group ids, and deletes its directory. After every step A's
own rows changed as the step says, and everything of B is exactly as before."""

from __future__ import annotations

import json
from typing import Any, cast

import asyncpg
import pytest

from schemas.envelope import EventEnvelope
from sql import migrations
from tests.access_support import CAUSE, ORGANIZATION_SCOPE, AccessHarness
from tests.provider_events import PROVIDERS, ProviderDirectory
from worker import repository as repo
from worker.access import admin
from worker.health import Verdict
from worker.store import Conn

pytestmark = [pytest.mark.db, pytest.mark.kafka]

SHARED = "shared-0001"  # both providers' directory id and organization id
SHARED_USER = "user-shared"
SHARED_GROUP = "group-shared"
PAIRS = [(a, b) for a in PROVIDERS for b in PROVIDERS if a != b]

# Everything of provider $1: its directory-model rows, and the accounts of its users with
# their roles, approvals, credentials and audit rows.
_B_ACCOUNTS = (
    "SELECT a.id FROM dsync.accounts AS a JOIN dsync.users AS u ON u.id = a.directory_user_id"
    " WHERE u.provider = $1"
)
STATE_QUERIES = {
    "directories": "SELECT * FROM dsync.directories WHERE provider = $1",
    "users": "SELECT * FROM dsync.users WHERE provider = $1",
    "groups": "SELECT * FROM dsync.groups WHERE provider = $1",
    "group_memberships": (
        "SELECT m.* FROM dsync.group_memberships AS m"
        " JOIN dsync.users AS u ON u.id = m.user_id WHERE u.provider = $1"
    ),
    "membership_register": "SELECT * FROM dsync_internal.memberships WHERE provider = $1",
    "accounts": f"SELECT * FROM dsync.accounts WHERE id IN ({_B_ACCOUNTS})",
    "effective_roles": f"SELECT * FROM dsync.effective_roles WHERE account_id IN ({_B_ACCOUNTS})",
    "role_approvals": f"SELECT * FROM dsync.role_approvals WHERE account_id IN ({_B_ACCOUNTS})",
    "sessions": f"SELECT * FROM dsync.sessions WHERE account_id IN ({_B_ACCOUNTS})",
    "api_keys": f"SELECT * FROM dsync.api_keys WHERE account_id IN ({_B_ACCOUNTS})",
    "device_tokens": f"SELECT * FROM dsync.device_tokens WHERE account_id IN ({_B_ACCOUNTS})",
    "audit": f"SELECT * FROM dsync.audit_log WHERE account_id IN ({_B_ACCOUNTS})",
}


async def state_of(db: asyncpg.Connection, provider: str) -> dict[str, list[Any]]:
    state = {}
    for name, sql in STATE_QUERIES.items():
        state[name] = sorted(tuple(row.values()) for row in await db.fetch(sql, provider))
    return state


async def send(access: AccessHarness, *envelopes: EventEnvelope | None) -> None:
    await access.send(*(e for e in envelopes if e is not None))


async def admin_of(access: AccessHarness, user_id: str) -> bool:
    account = await access.account(user_id)
    return (await access.roles(account["id"])).get(("organization", SHARED)) == "admin"


async def deactivated(access: AccessHarness, user_id: str) -> bool:
    account = await access.account(user_id)
    live = await access.live_credentials(account["id"])
    return account["status"] == "deactivated" and not any(live.values())


async def dead_letters(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch("SELECT reason FROM dsync_internal.dead_letters ORDER BY id")
    return [row["reason"] for row in rows]


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}-then-{b}" for a, b in PAIRS])
async def test_no_event_of_one_provider_changes_another_providers_rows(
    access: AccessHarness, a: str, b: str
) -> None:
    db = access.db
    mine, theirs = ProviderDirectory(a, SHARED, SHARED), ProviderDirectory(b, SHARED, SHARED)
    await access.admin(
        admin.put_mapping, SHARED, None, "Admins", ORGANIZATION_SCOPE, "admin", CAUSE
    )
    await send(access, theirs.activated(), mine.activated())
    await send(
        access,
        theirs.user(SHARED_USER),
        theirs.user("their-2"),
        theirs.group(SHARED_GROUP, "Admins"),
        theirs.added(SHARED_GROUP, SHARED_USER),
        mine.user("mine-1"),
        mine.user("mine-2"),
        mine.user("mine-3"),
        mine.group("mine-group", "Admins"),
        mine.added("mine-group", "mine-1"),
        mine.added("mine-group", "mine-2"),
    )
    for user in (SHARED_USER, "their-2", "mine-1", "mine-2", "mine-3"):
        await access.issue_credentials((await access.account(user))["id"])
    assert await admin_of(access, SHARED_USER)
    assert [await admin_of(access, u) for u in ("mine-1", "mine-2")] == [True, True]
    assert await dead_letters(db) == []
    before = await state_of(db, b)

    await send(access, mine.removed("mine-group", "mine-1"))
    assert not await admin_of(access, "mine-1")
    assert await state_of(db, b) == before

    await send(access, mine.group_deleted("mine-group"))
    assert not await admin_of(access, "mine-2")
    assert await state_of(db, b) == before

    await send(access, mine.user("mine-2", state="inactive"))
    assert await deactivated(access, "mine-2")
    assert await state_of(db, b) == before

    await send(access, mine.user_deleted("mine-3"))
    assert await deactivated(access, "mine-3")
    assert await state_of(db, b) == before

    # A's events naming B's user and group ids: the ids are B's, so they are refused.
    await send(access, mine.removed(SHARED_GROUP, SHARED_USER))
    await send(access, mine.group_deleted(SHARED_GROUP))
    await send(access, mine.user(SHARED_USER, state="inactive"))
    await send(access, mine.user_deleted(SHARED_USER))
    assert len(await dead_letters(db)) == 4
    assert await state_of(db, b) == before

    deletion = mine.deleted()
    if deletion is not None:  # Polis sends no directory events
        await send(access, deletion)
        assert await deactivated(access, "mine-1")
        live = await db.fetchval(
            "SELECT count(*) FROM dsync.users WHERE provider = $1 AND deleted_at IS NULL", a
        )
        assert live == 0
    assert await state_of(db, b) == before
    assert await admin_of(access, SHARED_USER)


async def test_disabling_a_directory_leaves_another_providers_directory_of_that_id_alone(
    access: AccessHarness,
) -> None:
    db = access.db
    workos, stytch = (
        ProviderDirectory("workos", SHARED, SHARED),
        ProviderDirectory("stytch", SHARED, SHARED),
    )
    await access.admin(
        admin.put_mapping, SHARED, None, "Admins", ORGANIZATION_SCOPE, "admin", CAUSE
    )
    await send(
        access,
        workos.user("w-1"),
        workos.group("w-group", "Admins"),
        workos.added("w-group", "w-1"),
        stytch.user("s-1"),
        stytch.group("s-group", "Admins"),
        stytch.added("s-group", "s-1"),
    )
    assert [await admin_of(access, u) for u in ("w-1", "s-1")] == [True, True]
    before = await state_of(db, "stytch")

    with pytest.raises(asyncpg.InvalidParameterValueError, match="name its provider"):
        await access.admin(admin.disable_directory, SHARED, CAUSE)
    assert await access.admin(admin.disable_directory, SHARED, CAUSE, "workos") == 1

    assert not await admin_of(access, "w-1")
    assert await state_of(db, "stytch") == before
    # Only the WorkOS directory's events are ignored from now on.
    await send(access, workos.user("w-2"), stytch.user("s-2"))
    ids = await db.fetch("SELECT provider, id FROM dsync.users ORDER BY id")
    assert [(r["provider"], r["id"]) for r in ids] == [
        ("stytch", "s-1"),
        ("stytch", "s-2"),
        ("workos", "w-1"),
    ]
    assert await access.admin(admin.enable_directory, SHARED, CAUSE) is True
    assert await access.admin(admin.enable_directory, SHARED, CAUSE) is False


async def test_a_directory_is_degraded_or_healthy_per_provider(db: asyncpg.Connection) -> None:
    conn = cast(Conn, db)  # the repository's functions take any connection

    def verdict(provider: str, breached: bool) -> Verdict:
        return Verdict(SHARED, provider, 1, int(breached), f"{provider}_event", 90.0)

    async with db.transaction():
        assert await repo.record_health(conn, [verdict("workos", True)]) == 1
    async with db.transaction():  # the other provider's directory of that id is healthy
        assert await repo.record_health(conn, [verdict("stytch", False)]) == 1
    async with db.transaction():
        assert await repo.record_health(conn, [verdict("stytch", True)]) == 2

    rows = await db.fetch(
        "SELECT provider, degraded_since IS NOT NULL AS degraded"
        " FROM dsync_internal.directory_health ORDER BY provider"
    )
    assert [(r["provider"], r["degraded"]) for r in rows] == [("stytch", True), ("workos", True)]


@pytest.mark.parametrize("a", ["workos", "polis"])
async def test_a_membership_stays_its_providers_before_its_user_and_group_arrive(
    access: AccessHarness, a: str
) -> None:
    """Stytch can name a membership before its member and group exist; another provider's
    membership of the same ids in a directory of the same id is not its to change."""
    db = access.db
    stytch, mine = ProviderDirectory("stytch", SHARED, SHARED), ProviderDirectory(a, SHARED, SHARED)
    await send(access, stytch.added(SHARED_GROUP, SHARED_USER))
    register = "SELECT * FROM dsync_internal.memberships"
    before = [tuple(row.values()) for row in await db.fetch(register)]
    assert len(before) == 1

    await send(access, mine.removed(SHARED_GROUP, SHARED_USER))

    assert [tuple(row.values()) for row in await db.fetch(register)] == before
    assert await db.fetchval("SELECT count(*) FROM dsync.users") == 0
    assert len(await dead_letters(db)) == 1


async def test_upgrading_keeps_what_existing_rows_meant(empty_database_url: str) -> None:
    """Rows written before (provider, id) keys get the provider they had in effect."""
    ours = next(m for m in migrations() if m.name == "provider_identity")
    conn = await asyncpg.connect(empty_database_url)
    try:
        for migration in migrations():
            if migration.version == ours.version:
                await conn.execute(LEGACY_ROWS)
            await conn.execute(migration.sql)
        disabled = await conn.fetch(
            "SELECT directory_id, provider FROM dsync_internal.disabled_directories ORDER BY 2"
        )
        health = await conn.fetch("SELECT provider FROM dsync_internal.directory_health")
        register = await conn.fetch(
            "SELECT group_id, provider FROM dsync_internal.memberships ORDER BY group_id"
        )
        # the same directory id under a second provider is now a row of its own
        await conn.execute(
            "INSERT INTO dsync.directories (id, provider, created_at, updated_at)"
            " VALUES ('dir-old', 'stytch', now(), now())"
        )
    finally:
        await conn.close()
    assert [(r["directory_id"], r["provider"]) for r in disabled] == [
        ("dir-old", "polis"),
        ("dir-old", "stytch"),
        ("dir-old", "workos"),
    ]
    assert [r["provider"] for r in health] == ["unknown"]
    assert [(r["group_id"], r["provider"]) for r in register] == [
        ("g-group", "workos"),
        ("g-neither", "stytch"),
        ("g-user", "polis"),
    ]


LEGACY_ROWS = """
INSERT INTO dsync.directories (id, provider, created_at, updated_at)
VALUES ('dir-old', 'workos', now(), now());
INSERT INTO dsync_internal.disabled_directories (directory_id, disabled_by)
VALUES ('dir-old', 'admin');
INSERT INTO dsync_internal.directory_health (directory_id, degraded_since, updated_at)
VALUES ('dir-old', now(), now());
INSERT INTO dsync.groups (id, provider, directory_id, idp_id, name, created_at, updated_at)
VALUES ('g-group', 'workos', 'dir-old', 'g', 'G', now(), now());
INSERT INTO dsync.users (id, provider, directory_id, idp_id, state, created_at, updated_at)
VALUES ('u-user', 'polis', 'dir-old', 'u', 'active', now(), now());
INSERT INTO dsync_internal.memberships (directory_id, group_id, user_id, present, event_at)
VALUES ('dir-old', 'g-group', 'u-x', true, now()),
       ('dir-old', 'g-user', 'u-user', true, now()),
       ('dir-old', 'g-neither', 'u-y', true, now());
"""


async def test_a_deleted_directory_without_its_provider_is_refused(db: asyncpg.Connection) -> None:
    """A caller that still passes bare directory ids fails loudly instead of deprovisioning
    nobody (or everybody of that id)."""
    with pytest.raises(asyncpg.InvalidParameterValueError, match="needs its provider"):
        await db.fetchval(
            "SELECT dsync_internal.sync_batch_access('{}', '{}', '{}', ARRAY['d'], '{}')"
        )
    with pytest.raises(asyncpg.InvalidParameterValueError, match="needs its provider"):
        await db.fetchval(
            "SELECT dsync_internal.sync_access('{}', '{}', ARRAY['d'], '{}', ARRAY[NULL])"
        )
    deleted = await db.fetchval(
        "SELECT dsync_internal.sync_access('{}', '{}', ARRAY['d'], '{}', ARRAY['workos'])"
    )
    assert json.loads(deleted) == {"accounts": 0}
