"""`dsync pull workos` end to end: the Events API alone converges, both paths together
apply each event once, unroutable events are refused (not produced, not skipped), a lost
cursor restarts from range_start, and 429/5xx/dropped connections lose nothing and cause
no request storm."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from dsync.settings import Settings
from dsync.shell.status import render_pullers
from dsync.source_metrics import PullMetrics
from pull.cursor_store import CursorMoved, CursorStore, read_positions
from tests.pull_support import (
    API_KEY,
    database_view,
    duplicates,
    event_ids,
    produced_ids,
    pull_once,
    pull_settings,
    stored_cursor,
    truth_view,
)
from tests.standins.server import Fault
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import StoredEvent, WorkOSTruth
from tests.support import eventually, running_ingress, running_worker, signed_headers

pytestmark = [pytest.mark.db, pytest.mark.kafka]


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(API_KEY) as running:
        yield running


def build_history(truth: WorkOSTruth, users: int = 30) -> str:
    """A directory whose history has every kind of event, deletes and renames included."""
    directory = truth.add_directory()
    people = [truth.add_user(directory, f"person{n}@example.com") for n in range(users)]
    groups = [truth.add_group(directory, name) for name in ("Eng", "Ops", "Sales")]
    for index, person in enumerate(people):
        truth.add_member(groups[index % 3], person)
    truth.update_user(people[0], state="inactive")
    truth.update_user(people[1], email="renamed@example.com")
    truth.delete_user(people[2])
    truth.remove_member(groups[1], people[4])
    truth.rename_group(groups[0], "Engineering")
    truth.delete_group(groups[2])
    return directory


async def test_events_api_alone_converges(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    settings = pull_settings(worker_settings, standin)
    build_history(standin.truth)
    totals = await pull_once(settings)
    assert totals.produced == len(standin.truth.events)
    async with running_worker(settings):
        await eventually(
            lambda: database_view(db), lambda v: v == truth_view(standin.truth), within=30
        )
    assert await stored_cursor(db) == event_ids(standin.truth)[-1]
    queries = [q for path, q in standin.traffic.queries if path == "/events"]
    assert all("order=asc" in q and "events=dsync." in q for q in queries)


async def test_webhooks_and_events_api_apply_each_event_once(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    settings = pull_settings(worker_settings, standin)
    build_history(standin.truth, users=10)
    events = [stored.event for stored in standin.truth.events]
    async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
        for event in events:  # the webhook body: the event without the list's `object`
            body = json.dumps({k: v for k, v in event.items() if k != "object"}).encode()
            answer = await client.post(
                "/webhooks/workos", content=body, headers=signed_headers(body)
            )
            assert answer.status_code == 200
    await pull_once(settings)
    async with running_worker(settings) as task:
        await eventually(
            lambda: db.fetchval("SELECT count(*) FROM dsync_internal.consumer_offsets"),
            lambda _: True,
        )
        await eventually(
            lambda: db.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM dsync_internal.consumer_offsets"
            ),
            lambda n: n >= 2 * len(events),
            within=40,
        )
    totals = task.result().totals
    assert totals["duplicate"] == len(events)
    assert sum(totals.values()) == 2 * len(events)
    assert await database_view(db) == truth_view(standin.truth)


async def test_unroutable_event_is_refused_and_passed(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    settings = pull_settings(worker_settings, standin)
    truth = standin.truth
    directory = truth.add_directory()
    truth.add_user(directory, "before@example.com")
    hostile = {"object": "event", "id": truth.new_id("event"), "event": "dsync.user.created"}
    nul_id = {**hostile, "id": "event_\u0000nul", "data": {"directory_id": directory}}
    with truth.lock:  # no `data` at all; then an id PostgreSQL text cannot hold
        truth.events += [StoredEvent(hostile, truth.clock()), StoredEvent(nul_id, truth.clock())]
    truth.add_user(directory, "after@example.com")
    totals = await pull_once(settings)
    assert (totals.produced, totals.refused) == (3, 2)
    refusals = await db.fetch(
        "SELECT event_id, reason FROM dsync_internal.pull_refusals ORDER BY id"
    )
    assert [r["event_id"] for r in refusals] == [hostile["id"], None]
    assert "data" in refusals[0]["reason"]
    produced = await produced_ids(settings.require_bootstrap_servers(), settings.events_topic, 3)
    assert sorted(produced) == sorted(
        i for i in event_ids(truth) if i not in (hostile["id"], nul_id["id"])
    )
    assert await stored_cursor(db) == event_ids(truth)[-1]


async def test_lost_cursor_restarts_from_range_start(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    settings = pull_settings(worker_settings, standin)
    truth = standin.truth
    directory = truth.add_directory()
    truth.add_user(directory, "one@example.com")
    await pull_once(settings)
    first_cursor = await stored_cursor(db)
    truth.add_user(directory, "two@example.com")
    await pull_once(settings)  # from the stored cursor: `after`, no range_start
    assert f"after={first_cursor}" in standin.traffic.queries[-1][1]
    await db.execute("DELETE FROM dsync_internal.pull_cursors")
    before = len(standin.traffic.queries)
    await pull_once(settings)
    restart = standin.traffic.queries[before][1]
    assert "range_start=" in restart
    assert "after=" not in restart
    ids = await produced_ids(settings.require_bootstrap_servers(), settings.events_topic, 6)
    assert sorted(set(ids)) == sorted(event_ids(truth))
    assert await stored_cursor(db) == event_ids(truth)[-1]


async def test_throttling_and_outages_lose_nothing_without_a_request_storm(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    settings = pull_settings(worker_settings, standin)
    truth = standin.truth
    directory = truth.add_directory()
    for n in range(349):  # 350 events: four pages of 100
        truth.add_user(directory, f"u{n}@example.com")
    faults = [
        Fault(429, retry_after="1", path="/events"),
        Fault(429, path="/events"),
        Fault(503, path="/events"),
        Fault(drop=True, path="/events"),
        Fault(500, path="/events"),
    ]
    standin.faults.add(*faults)
    metrics = PullMetrics()
    totals = await pull_once(settings, metrics)
    assert totals.produced == 350
    pages = 4
    assert standin.traffic.total == pages + len(faults)  # each fault costs one retry, no more
    ids = await produced_ids(settings.require_bootstrap_servers(), settings.events_topic, 350)
    assert sorted(ids) == sorted(event_ids(truth))  # nothing lost, nothing twice
    assert await stored_cursor(db) == event_ids(truth)[-1]
    answers = {
        sample.labels["status"]: sample.value
        for metric in metrics.requests.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert answers == {"429": 2, "503": 1, "network": 1, "500": 1, "200": 4}


async def test_cursor_moved_by_another_puller_stops_this_one(database_url: str) -> None:
    store = await CursorStore.connect(database_url, "workos", "default")
    other = await CursorStore.connect(database_url, "workos", "default")
    try:
        await store.advance(None, "event_1", None)
        await other.advance("event_1", "event_2", None)
        with pytest.raises(CursorMoved):
            await store.advance("event_1", "event_3", None)
        assert (await store.load()) is not None
        assert (await other.load()).cursor == "event_2"  # type: ignore[union-attr]
    finally:
        await store.close()
        await other.close()


async def test_accounts_keep_their_own_cursor(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    settings = pull_settings(worker_settings, standin)
    standin.truth.add_directory()
    await pull_once(settings, account="staging")
    assert await stored_cursor(db, "staging") == event_ids(standin.truth)[-1]
    assert await stored_cursor(db, "production") is None
    produced = await produced_ids(settings.require_bootstrap_servers(), settings.events_topic, 1)
    assert duplicates(produced) == 0
    positions = await read_positions(settings.require_database_url())
    assert [(p.account, p.cursor) for p in positions] == [("staging", event_ids(standin.truth)[-1])]
    line = render_pullers(positions, datetime.now(UTC)).splitlines()[-1]
    assert line.startswith("  workos/staging: last event 20")
