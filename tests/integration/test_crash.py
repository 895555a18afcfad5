"""SIGKILL in the middle of applying, then a restart: every event applied exactly once."""

from __future__ import annotations

import signal

import asyncpg
import pytest

from dsync.settings import Settings
from tests.processes import start_dsync, worker_env, worker_totals
from tests.support import (
    applied_events_total,
    eventually,
    produce,
    spread_user_events,
    stored_offsets_total,
)

pytestmark = [pytest.mark.db, pytest.mark.kafka]

EVENTS = 30_000


async def other_sessions(db: asyncpg.Connection) -> int:
    """Server processes of this database other than the test's own connection."""
    return int(
        await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )


async def test_sigkill_mid_stream_neither_loses_nor_double_applies(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    events = spread_user_events(EVENTS)
    await produce(worker_settings.require_bootstrap_servers(), worker_settings.events_topic, events)

    first = await start_dsync("worker", worker_env(worker_settings))
    await eventually(lambda: applied_events_total(db), lambda n: n >= 3000, within=60)
    first.kill()
    first_code = await first.exited()
    # A COMMIT the worker sent just before it died still completes in its server process:
    # count only once those processes are gone, or that batch is counted by neither worker.
    await eventually(lambda: other_sessions(db), lambda n: n == 0, within=30)
    applied_by_first = await applied_events_total(db)

    second = await start_dsync("worker", worker_env(worker_settings))
    await eventually(lambda: stored_offsets_total(db), lambda n: n >= EVENTS, within=120)
    second_code = await second.terminate()
    totals = worker_totals(second)

    print(f"killed after {applied_by_first} applied; the restart applied {totals}")
    assert first_code == -signal.SIGKILL
    assert 0 < applied_by_first < EVENTS, "the kill must land mid-stream"
    assert totals.get("duplicate", 0) == 0  # resumed exactly where the database said
    assert applied_by_first + totals["applied"] == EVENTS
    assert await applied_events_total(db) == EVENTS
    assert await db.fetchval("SELECT count(*) FROM dsync.users") == EVENTS
    assert second_code == 0
