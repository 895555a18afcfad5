"""A long-running puller (not `--once`): hostile pages are read again, never skipped, and
events the Events API withholds for a while are pulled when they show."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from dsync.settings import Settings
from dsync.source_metrics import PullMetrics
from pull.main import run_puller
from tests.pull_support import (
    API_KEY,
    FAST_RETRIES,
    event_ids,
    options,
    produced_ids,
    pull_settings,
    stored_cursor,
)
from tests.standins.server import Fault
from tests.standins.workos import WorkOSStandIn
from tests.support import eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka]


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(API_KEY) as running:
        yield running


async def test_hostile_pages_are_retried_not_skipped(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    """A proxy's HTML page, JSON that is not an event list, an error without a body: the
    cursor stays and the page is read again; a long-running puller gets every event."""
    settings = pull_settings(worker_settings, standin)
    truth = standin.truth
    directory = truth.add_directory()
    for n in range(149):
        truth.add_user(directory, f"u{n}@example.com")
    standin.faults.add(
        Fault(200, body=b"<html>gateway</html>", path="/events"),
        Fault(200, body=b'{"object":"list","data":"nope"}', path="/events"),
        Fault(200, body=b"\xff\xfe\x00", path="/events"),
        Fault(502, body=b"", path="/events"),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_puller(settings, options(settings, once=False), stop, PullMetrics(), FAST_RETRIES)
    )
    await eventually(lambda: stored_cursor(db), lambda c: c == event_ids(truth)[-1])
    stop.set()
    await running
    assert standin.faults.pending == 0
    ids = await produced_ids(settings.require_bootstrap_servers(), settings.events_topic, 150)
    assert sorted(ids) == sorted(event_ids(truth))


async def test_events_that_become_visible_late_are_all_pulled(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    """WorkOS withholds young events from cursor reads: a puller polling meanwhile sees
    them later, and the cursor (only ever an id it produced) never passes one."""
    with WorkOSStandIn.running(API_KEY, visibility_lag=0.4) as standin:
        settings = pull_settings(worker_settings, standin)
        truth = standin.truth
        stop = asyncio.Event()
        running = asyncio.create_task(
            run_puller(settings, options(settings, once=False), stop, PullMetrics(), FAST_RETRIES)
        )
        directory = truth.add_directory()
        for burst in range(5):
            for n in range(30):
                truth.add_user(directory, f"b{burst}u{n}@example.com")
            await asyncio.sleep(0.15)
        await eventually(lambda: stored_cursor(db), lambda c: c == event_ids(truth)[-1])
        stop.set()
        await running
    hidden = [q for path, q in standin.traffic.queries if path == "/events"]
    assert len(hidden) > 5  # it polled while events were still withheld
    ids = await produced_ids(settings.require_bootstrap_servers(), settings.events_topic, 151)
    assert sorted(ids) == sorted(event_ids(truth))
