"""The stream check stays off the fetch path: while nothing changes, the check a worker runs
before each fetch makes no request at all, so a slow database or broker answer to the
periodic check never delays a poll (B3's tail in session 8, docs/PERFORMANCE.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from dsync.metrics import WorkerMetrics
from dsync.settings import Settings
from worker.batch import Stream
from worker.consumer import KafkaSource
from worker.guard import CHECK_SECONDS, StreamGuard
from worker.store import Store

pytestmark = pytest.mark.kafka


@pytest.fixture
async def guard(worker_settings: Settings) -> AsyncIterator[StreamGuard]:
    """A guard over a joined consumer of the test's topic and a pool of its database."""
    settings = worker_settings
    store = await Store.open(settings.require_database_url(), size=2)

    async def no_offsets(topic: str) -> dict[int, int]:
        return {}

    source = KafkaSource(
        settings.require_bootstrap_servers(),
        settings.events_topic,
        settings.worker_group_id,
        stored_offsets=no_offsets,
        max_records=100,
    )
    await source.start(asyncio.Event())
    stream = Stream(settings.worker_group_id, settings.events_topic)
    try:
        yield StreamGuard(store, source, stream, WorkerMetrics())
    finally:
        await source.stop()
        await store.close()


async def test_the_check_before_a_fetch_waits_for_nothing_while_nothing_changes(
    guard: StreamGuard, db: asyncpg.Connection
) -> None:
    async with guard.watching():
        await guard.check()  # the assignment: steered once
        await asyncio.sleep(CHECK_SECONDS * 1.5)  # the watch has read the hold rows
        await guard.check()
        # The hold rows stay unreadable for longer than the check period.
        async with db.transaction():
            await db.execute("LOCK TABLE dsync_internal.partition_holds IN ACCESS EXCLUSIVE MODE")
            longest = 0.0
            deadline = time.monotonic() + CHECK_SECONDS * 3
            while time.monotonic() < deadline:
                started = time.monotonic()
                async with asyncio.timeout(CHECK_SECONDS * 5):
                    await guard.check()
                longest = max(longest, time.monotonic() - started)
                await asyncio.sleep(0.1)
    assert longest < 0.05
