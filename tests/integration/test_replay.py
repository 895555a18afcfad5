"""Replay and rebuild leave the tables exactly as they were."""

from __future__ import annotations

import asyncpg
import pytest

from dsync.settings import Settings
from tests.support import (
    apply_events,
    directory_event,
    envelope_of,
    group_event,
    membership_event,
    snapshot,
    user_event,
)
from worker.replay import Range, rebuild, replay

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def history(directory: str) -> list[dict[str, object]]:
    return [
        directory_event("activated", directory_id=directory),
        user_event(user_id=f"{directory}-u1", directory_id=directory, updated_at=1_700_000_000),
        user_event(
            "updated", user_id=f"{directory}-u1", directory_id=directory, updated_at=1_700_000_100
        ),
        user_event(user_id=f"{directory}-u2", directory_id=directory),
        user_event(
            "deleted", user_id=f"{directory}-u2", directory_id=directory, updated_at=1_700_000_200
        ),
        group_event(group_id=f"{directory}-g1", directory_id=directory),
        membership_event(
            user_id=f"{directory}-u1", group_id=f"{directory}-g1", directory_id=directory
        ),
        membership_event(
            "user_removed",
            user_id=f"{directory}-u3",
            group_id=f"{directory}-g1",
            directory_id=directory,
            event_at=1_700_000_300,
        ),
    ]


async def test_replay_and_rebuild_change_nothing(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    events = history("dir_a") + history("dir_b")
    await apply_events(worker_settings, db, [envelope_of(e) for e in events])
    before = await snapshot(db)

    everything = await replay(worker_settings, Range())
    after_replay = await snapshot(db)
    one = await replay(worker_settings, Range(directory="dir_a"))
    after_directory_replay = await snapshot(db)
    rebuilt = await rebuild(worker_settings)
    after_rebuild = await snapshot(db)

    assert before["users"]
    assert before["group_memberships"]
    assert after_replay == before
    assert after_directory_replay == before
    assert after_rebuild == before
    assert sum(everything.values()) == len(events)
    assert sum(one.values()) == len(events) // 2
    assert rebuilt["applied"] > 0  # rebuilt from empty tables


async def test_rebuild_restores_rows_deleted_by_hand(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    await apply_events(worker_settings, db, [envelope_of(e) for e in history("dir_c")])
    before = await snapshot(db)
    await db.execute("DELETE FROM dsync.users")

    await rebuild(worker_settings)

    assert await snapshot(db) == before


async def test_replay_and_rebuild_in_small_batches_lose_nothing(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    """Many fetched batches, each read and decoded while the one before is applied."""
    events = history("dir_d") + history("dir_e") + history("dir_f")
    await apply_events(worker_settings, db, [envelope_of(e) for e in events])
    before = await snapshot(db)
    small = worker_settings.model_copy(update={"worker_max_batch": 2, "rebuild_batch": 2})

    replayed = await replay(small, Range())
    after_replay = await snapshot(db)
    rebuilt = await rebuild(small)

    assert after_replay == before
    assert await snapshot(db) == before
    assert sum(replayed.values()) == len(events)
    assert sum(rebuilt.values()) == len(events)
