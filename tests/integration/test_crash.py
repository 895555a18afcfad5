"""SIGKILL in the middle of applying, then a restart: every event applied exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import asyncpg
import pytest

from dsync.settings import Settings
from tests.support import envelope_of, eventually, produce, stored_offsets_total, user_event

pytestmark = [pytest.mark.db, pytest.mark.kafka]

EVENTS = 30_000


async def start_worker(settings: Settings) -> asyncio.subprocess.Process:
    env = dict(
        os.environ,
        DSYNC_DATABASE_URL=settings.require_database_url(),
        DSYNC_KAFKA_BOOTSTRAP_SERVERS=settings.require_bootstrap_servers(),
        DSYNC_EVENTS_TOPIC=settings.events_topic,
        DSYNC_WORKER_GROUP_ID=settings.worker_group_id,
        DSYNC_WORKER_MAX_BATCH="1000",
        DSYNC_WORKER_ADMIN_PORT="0",
        DSYNC_LOG_FORMAT="json",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dsync", "worker", env=env, stderr=asyncio.subprocess.PIPE
    )


async def applied_count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM dsync_internal.applied_events"))


async def other_sessions(db: asyncpg.Connection) -> int:
    """Server processes of this database other than the test's own connection."""
    return int(
        await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )


def stopping_totals(stderr: bytes) -> dict[str, Any]:
    for line in stderr.decode().splitlines():
        if line.startswith("{") and json.loads(line).get("event") == "worker.stopping":
            totals: dict[str, Any] = json.loads(line)["totals"]
            return totals
    raise AssertionError(f"no worker.stopping line in:\n{stderr.decode()[-3000:]}")


async def test_sigkill_mid_stream_neither_loses_nor_double_applies(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    events = [
        envelope_of(user_event(user_id=f"user-{i}", directory_id=f"directory-{i % 12}"))
        for i in range(EVENTS)
    ]
    await produce(worker_settings.require_bootstrap_servers(), worker_settings.events_topic, events)

    first = await start_worker(worker_settings)
    await eventually(lambda: applied_count(db), lambda n: n >= 3000, within=60)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    # A COMMIT the worker sent just before it died still completes in its server process:
    # count only once those processes are gone, or that batch is counted by neither worker.
    await eventually(lambda: other_sessions(db), lambda n: n == 0, within=30)
    applied_by_first = await applied_count(db)

    second = await start_worker(worker_settings)
    await eventually(lambda: stored_offsets_total(db), lambda n: n >= EVENTS, within=120)
    second.send_signal(signal.SIGTERM)
    _, stderr = await second.communicate()
    totals = stopping_totals(stderr)

    print(f"killed after {applied_by_first} applied; the restart applied {totals}")
    assert first.returncode == -signal.SIGKILL
    assert 0 < applied_by_first < EVENTS, "the kill must land mid-stream"
    assert totals.get("duplicate", 0) == 0  # resumed exactly where the database said
    assert applied_by_first + totals["applied"] == EVENTS
    assert await applied_count(db) == EVENTS
    assert await db.fetchval("SELECT count(*) FROM dsync.users") == EVENTS
    assert second.returncode == 0
