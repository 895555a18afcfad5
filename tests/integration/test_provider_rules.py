"""One rule for each difference between providers, the same for WorkOS, Stytch and Polis
(docs/schema.md, "Providers: one rule each"): a deleted user's memberships leave the view,
every directory has a row from its first event, and an email that is not an address is
never stored (so it never makes an account)."""

from __future__ import annotations

import asyncpg
import pytest

from tests.access_support import AccessHarness
from tests.provider_events import PROVIDERS, ProviderDirectory

pytestmark = [pytest.mark.db, pytest.mark.kafka]

DIRECTORY = "directory-rules-1"
ORGANIZATION = "organization-rules-1"


def directory_of(provider: str) -> ProviderDirectory:
    # A Stytch organization is its own directory.
    organization = DIRECTORY if provider == "stytch" else ORGANIZATION
    return ProviderDirectory(provider, DIRECTORY, organization)


async def memberships_of(db: asyncpg.Connection, user_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT group_id FROM dsync.group_memberships WHERE user_id = $1", user_id
    )
    return [row["group_id"] for row in rows]


@pytest.mark.parametrize(
    ("provider", "how"),
    [
        ("workos", "deleted"),
        ("stytch", "deleted"),
        ("stytch", "status deleted"),
        ("polis", "deleted"),
    ],
)
async def test_a_deleted_users_memberships_leave_the_view(
    access: AccessHarness, provider: str, how: str
) -> None:
    directory = directory_of(provider)
    await access.send(
        directory.user("u-1"), directory.group("g-1", "Staff"), directory.added("g-1", "u-1")
    )
    assert await memberships_of(access.db, "u-1") == ["g-1"]

    if how == "status deleted":  # a Stytch member update that says `status: "deleted"`
        await access.send(directory.user("u-1", state="deleted"))
    else:
        await access.send(directory.user_deleted("u-1"))

    assert await memberships_of(access.db, "u-1") == []
    assert await access.db.fetchval("SELECT deleted_at FROM dsync.users WHERE id = 'u-1'")
    assert (await access.account("u-1"))["status"] == "deactivated"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_every_directory_has_a_row_from_its_first_event(
    access: AccessHarness, provider: str
) -> None:
    directory = directory_of(provider)
    await access.send(directory.user("u-1"))

    rows = await access.db.fetch("SELECT * FROM dsync.directories")
    assert [(r["id"], r["provider"], r["organization_id"]) for r in rows] == [
        (DIRECTORY, provider, directory.organization)
    ]
    assert (rows[0]["name"], rows[0]["deleted_at"]) == (None, None)

    described = directory.activated()  # None for Polis, which sends no directory events
    if described is not None:
        await access.send(described, directory.user("u-2"))
        # The payload's name, and a later user changes nothing.
        assert await access.db.fetchval("SELECT name FROM dsync.directories") == "Shared Corp"
        deletion = directory.deleted()
        assert deletion is not None
        await access.send(deletion)
        assert (
            await access.db.fetchval("SELECT count(*) FROM dsync.users WHERE deleted_at IS NULL")
            == 0
        )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_email_that_is_not_an_address_is_never_stored(
    access: AccessHarness, provider: str
) -> None:
    directory = directory_of(provider)
    scim = {"userName": "kiran", "emails": [{"value": "kiran@example.com", "primary": True}]}

    await access.send(
        directory.user("u-kiran", email="kiran", raw={"userName": "kiran"}),
        directory.user("u-ada", email="ada@example.com"),
        # Polis's `email` may be the SCIM userName; the SCIM primary address comes first.
        directory.user("u-scim", email="kiran", raw=scim),
    )

    rows = await access.db.fetch("SELECT id, email FROM dsync.users ORDER BY id")
    accounts = await access.db.fetch(
        "SELECT directory_user_id, email FROM dsync.accounts ORDER BY directory_user_id"
    )
    scim_address = "kiran@example.com" if provider == "polis" else None
    assert [(r["id"], r["email"]) for r in rows] == [
        ("u-ada", "ada@example.com"),
        ("u-kiran", None),
        ("u-scim", scim_address),
    ]
    expected = [("u-ada", "ada@example.com")]
    if scim_address:
        expected.append(("u-scim", scim_address))
    assert [(a["directory_user_id"], a["email"]) for a in accounts] == expected
