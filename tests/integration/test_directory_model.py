"""Every WorkOS directory event through the real broker and worker."""

from __future__ import annotations

import asyncpg
import pytest

from dsync.settings import Settings
from tests.support import (
    DIRECTORY,
    ORGANIZATION,
    apply_events,
    directory_event,
    envelope_of,
    group_event,
    membership_event,
    user_event,
)

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def memberships(db: asyncpg.Connection) -> set[tuple[str, str]]:
    rows = await db.fetch("SELECT group_id, user_id FROM dsync.group_memberships")
    return {(row["group_id"], row["user_id"]) for row in rows}


async def test_activated_directory_is_recorded_with_its_organization(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    await apply_events(worker_settings, db, [envelope_of(directory_event("activated"))])

    row = await db.fetchrow("SELECT * FROM dsync.directories")
    assert row is not None
    assert (row["id"], row["organization_id"], row["state"]) == (DIRECTORY, ORGANIZATION, "active")
    assert row["deleted_at"] is None


async def test_group_rename_keeps_the_newest_name(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    events = [
        group_event("updated", name="Platform", updated_at=1_700_000_200),
        group_event("created", name="Developers", updated_at=1_700_000_000),
        group_event("updated", name="Engineers", updated_at=1_700_000_100),
    ]

    await apply_events(worker_settings, db, [envelope_of(e) for e in events])

    assert await db.fetchval("SELECT name FROM dsync.groups") == "Platform"


async def test_membership_before_user_and_group_is_not_lost(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    await apply_events(worker_settings, db, [envelope_of(membership_event("user_added"))])

    assert await memberships(db) == {("directory_group_1", "directory_user_1")}
    assert await db.fetchval("SELECT count(*) FROM dsync.users") == 1
    assert await db.fetchval("SELECT count(*) FROM dsync.groups") == 1


async def test_add_and_remove_resolve_by_event_time_not_arrival(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    removed_later = membership_event("user_removed", event_at=1_700_000_200)
    added_earlier = membership_event("user_added", event_at=1_700_000_100)

    await apply_events(
        worker_settings, db, [envelope_of(removed_later), envelope_of(added_earlier)]
    )

    assert await memberships(db) == set()


async def test_repeated_user_added_is_harmless(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    events = [membership_event("user_added", event_at=1_700_000_100 + i) for i in range(3)]

    totals = await apply_events(worker_settings, db, [envelope_of(e) for e in events])

    assert await memberships(db) == {("directory_group_1", "directory_user_1")}
    assert totals["applied"] >= 1
    created = await db.fetchval("SELECT created_at FROM dsync.group_memberships")
    assert created.timestamp() == 1_700_000_102  # the latest add


async def test_group_deleted_removes_its_memberships(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    added = membership_event("user_added", event_at=1_700_000_100)
    deleted = group_event("deleted", updated_at=1_700_000_000, event_at=1_700_000_300)

    await apply_events(worker_settings, db, [envelope_of(added), envelope_of(deleted)])

    assert await memberships(db) == set()
    assert await db.fetchval("SELECT deleted_at IS NOT NULL FROM dsync.groups")


async def test_directory_deleted_tombstones_everything_in_it(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    before = [
        directory_event("activated"),
        membership_event("user_added", user_id="u1"),
        user_event(user_id="u2"),
        group_event(group_id="g2"),
    ]
    await apply_events(worker_settings, db, [envelope_of(e) for e in before])

    gone = directory_event("deleted", event_at=1_700_000_500)
    late = user_event(user_id="u3", updated_at=1_700_000_100)  # delivered after the deletion
    await apply_events(worker_settings, db, [envelope_of(gone), envelope_of(late)])

    live_users = await db.fetchval("SELECT count(*) FROM dsync.users WHERE deleted_at IS NULL")
    live_groups = await db.fetchval("SELECT count(*) FROM dsync.groups WHERE deleted_at IS NULL")
    assert (live_users, live_groups) == (0, 0)
    assert await db.fetchval("SELECT count(*) FROM dsync.users") == 3
    assert await memberships(db) == set()
    assert await db.fetchval("SELECT deleted_at FROM dsync.directories") is not None


async def test_deletion_before_activation_is_not_undone(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    events = [directory_event("deleted", event_at=1_700_000_500), directory_event("activated")]

    await apply_events(worker_settings, db, [envelope_of(e) for e in events])

    assert await db.fetchval("SELECT deleted_at FROM dsync.directories") is not None


async def test_group_of_another_directory_is_dead_lettered(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    await apply_events(worker_settings, db, [envelope_of(group_event(directory_id="dir_A"))])

    intruder = membership_event("user_added", directory_id="dir_B")
    await apply_events(worker_settings, db, [envelope_of(intruder)])

    assert await memberships(db) == set()
    reason = await db.fetchval("SELECT reason FROM dsync_internal.dead_letters")
    assert "another directory" in reason


async def test_reader_role_reads_dsync_but_not_internal(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    await apply_events(worker_settings, db, [envelope_of(membership_event())])

    async with db.transaction():
        await db.execute("SET LOCAL ROLE dsync_reader")
        for table in ("directories", "users", "groups", "group_memberships"):
            await db.fetch(f"SELECT * FROM dsync.{table}")  # no error: readable
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.fetch("SELECT * FROM dsync_internal.memberships")
