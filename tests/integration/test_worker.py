"""The worker against a real broker and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import asyncpg
import pytest

from dsync.settings import Settings
from tests.support import (
    apply_events,
    envelope_of,
    eventually,
    produce,
    running_worker,
    stored_offsets_total,
    user_event,
)
from worker.main import run_worker

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def users(db: asyncpg.Connection) -> dict[str, dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM dsync.users ORDER BY id")
    return {row["id"]: dict(row) for row in rows}


async def test_created_user_appears(worker_settings: Settings, db: asyncpg.Connection) -> None:
    event = user_event(email="ada@example.com")

    await apply_events(worker_settings, db, [envelope_of(event)])

    row = (await users(db))["directory_user_1"]
    assert row["provider"] == "workos"
    assert row["email"] == "ada@example.com"
    assert row["state"] == "active"
    assert row["custom_attributes"] == json.dumps({"department": "Engineering"})
    assert row["deleted_at"] is None
    outcome = await db.fetchval(
        "SELECT outcome FROM dsync_internal.applied_events WHERE event_id = $1", event["id"]
    )
    assert outcome == "applied"


async def test_duplicate_event_id_changes_nothing(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    first = user_event(first_name="Ada", updated_at=1_700_000_000)
    await apply_events(worker_settings, db, [envelope_of(first)])
    # Same event id, different content: the inbox must refuse it.
    replay = dict(
        first, data=dict(first["data"], first_name="Mallory", updated_at="2030-01-01T00:00:00Z")
    )

    totals = await apply_events(worker_settings, db, [envelope_of(replay)])

    assert totals == Counter(duplicate=1)
    assert (await users(db))["directory_user_1"]["first_name"] == "Ada"


async def test_stale_update_is_discarded(worker_settings: Settings, db: asyncpg.Connection) -> None:
    newer = user_event("updated", first_name="New", updated_at=1_700_000_100)
    older = user_event("updated", first_name="Old", updated_at=1_700_000_000)

    await apply_events(worker_settings, db, [envelope_of(newer), envelope_of(older)])

    assert (await users(db))["directory_user_1"]["first_name"] == "New"
    outcomes = await db.fetch("SELECT outcome FROM dsync_internal.applied_events ORDER BY outcome")
    assert [r["outcome"] for r in outcomes] == ["applied", "stale"]


async def test_deleted_user_is_kept_as_tombstone(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    created = user_event("created", updated_at=1_700_000_000)
    deleted = user_event("deleted", updated_at=1_700_000_050, state="inactive")

    await apply_events(worker_settings, db, [envelope_of(created), envelope_of(deleted)])

    row = (await users(db))["directory_user_1"]
    assert row["deleted_at"] is not None
    assert row["state"] == "inactive"


async def test_tombstone_is_not_resurrected_by_late_create(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    deleted = user_event("deleted", updated_at=1_700_000_050, state="inactive")
    late_create = user_event("created", updated_at=1_700_000_000)

    await apply_events(worker_settings, db, [envelope_of(deleted), envelope_of(late_create)])

    row = (await users(db))["directory_user_1"]
    assert row["deleted_at"] is not None
    assert row["state"] == "inactive"


async def test_invalid_payload_is_dead_lettered_and_the_worker_moves_on(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    broken = user_event(user_id="directory_user_broken")
    del broken["data"]["idp_id"]
    good = user_event(user_id="directory_user_good")

    await apply_events(worker_settings, db, [envelope_of(broken), envelope_of(good)])

    assert list(await users(db)) == ["directory_user_good"]
    letter = await db.fetchrow("SELECT * FROM dsync_internal.dead_letters")
    assert letter is not None
    assert letter["event_id"] == broken["id"]
    assert "idp_id" in letter["reason"]
    assert "ada@example.com" not in letter["reason"]
    assert bytes(letter["body"]) == json.dumps(broken).encode()


async def test_event_the_database_refuses_is_dead_lettered_alone(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    # A constraint of the operator's own (text PostgreSQL cannot hold, such as a NUL, is
    # refused earlier, at decode: tests/integration/test_poison.py).
    await db.execute(
        "ALTER TABLE dsync.users ADD CONSTRAINT no_refusals"
        " CHECK (first_name IS DISTINCT FROM 'refuse me')"
    )
    before = user_event(user_id="directory_user_a")
    poison = user_event(user_id="directory_user_refused", first_name="refuse me")
    after = user_event(user_id="directory_user_b")

    await apply_events(worker_settings, db, [envelope_of(e) for e in (before, poison, after)])

    assert list(await users(db)) == ["directory_user_a", "directory_user_b"]
    reason = await db.fetchval("SELECT reason FROM dsync_internal.dead_letters")
    assert reason.startswith("database refused the event (23514")


async def test_event_for_another_directorys_user_is_dead_lettered(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    mine = user_event(directory_id="directory_A", updated_at=1_700_000_000)
    hijack = user_event(
        directory_id="directory_B", updated_at=1_700_000_500, email="evil@example.com"
    )

    # Different directories use different partitions: apply one after the other.
    await apply_events(worker_settings, db, [envelope_of(mine)])
    await apply_events(worker_settings, db, [envelope_of(hijack)])

    row = (await users(db))["directory_user_1"]
    assert (row["directory_id"], row["email"]) == ("directory_A", "ada@example.com")
    reason = await db.fetchval("SELECT reason FROM dsync_internal.dead_letters")
    assert "another directory" in reason


async def test_unknown_event_type_is_recorded_as_ignored(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    event = {"id": "event_token_1", "event": "dsync.token.created", "data": {"directory_id": "d"}}

    await apply_events(worker_settings, db, [envelope_of(event)])

    outcome = await db.fetchval("SELECT outcome FROM dsync_internal.applied_events")
    assert outcome == "ignored"


async def test_restart_resumes_from_stored_offsets(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    first = await apply_events(
        worker_settings, db, [envelope_of(user_event(user_id=f"u{i}")) for i in range(20)]
    )

    second = await apply_events(worker_settings, db, [envelope_of(user_event(user_id="u_late"))])

    assert first == Counter(applied=20)
    assert second == Counter(applied=1)  # nothing of the first run was read again
    assert len(await users(db)) == 21


async def test_stop_mid_stream_loses_nothing_fetched_ahead(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    """The worker fetches and decodes the next poll while applying the current one; what
    it fetched but did not apply when stopped is applied after the restart, once."""
    settings = worker_settings.model_copy(update={"worker_max_batch": 5})
    events = [envelope_of(user_event(user_id=f"u{i:03}")) for i in range(400)]
    await produce(settings.require_bootstrap_servers(), settings.events_topic, events)

    stop = asyncio.Event()
    first = asyncio.create_task(run_worker(settings, stop))
    await eventually(lambda: stored_offsets_total(db), lambda n: n >= 5)
    stop.set()
    stopped_at = await stored_offsets_total(db)
    applied_first = (await first).totals["applied"]
    async with running_worker(settings) as second:
        await eventually(lambda: stored_offsets_total(db), lambda n: n >= 400, within=40)

    assert stopped_at < 400  # stopped partway through the stream
    assert applied_first + second.result().totals["applied"] == 400  # none lost, none twice
    assert len(await users(db)) == 400


async def test_mostly_invalid_batch_holds_its_partition_and_commits_nothing(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    broken = []
    for i in range(12):
        event = user_event(user_id=f"u{i}")
        del event["data"]["idp_id"]
        broken.append(envelope_of(event))
    await produce(worker_settings.require_bootstrap_servers(), worker_settings.events_topic, broken)

    async with running_worker(worker_settings) as task:
        held = await eventually(
            lambda: db.fetch(
                "SELECT reason, detail FROM dsync_internal.partition_holds"
                " WHERE released_at IS NULL"
            ),
            lambda rows: len(rows) == 1,
            within=60,
        )
        await asyncio.sleep(1.5)  # the stream check publishes the gauge before its next fetch
    worker = task.result()
    assert worker.totals == Counter()  # the worker stopped when asked, not before
    gauge = worker.metrics.registry.get_sample_value
    assert gauge("dsync_worker_held_partitions", {"reason": "dead_letter_cap"}) == 1
    assert gauge("dsync_worker_held_partitions", {"reason": "offset_beyond_end"}) == 0
    assert held[0]["reason"] == "dead_letter_cap"
    assert json.loads(held[0]["detail"])["dead_lettered"] == 12
    assert await db.fetchval("SELECT count(*) FROM dsync_internal.dead_letters") == 0
    stored = "SELECT count(*) FROM dsync_internal.consumer_offsets WHERE next_offset >= 0"
    assert await db.fetchval(stored) == 0
