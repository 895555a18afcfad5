"""The sync-latency budget, `GET /diagnostics` and `dsync status`, on a real PostgreSQL and
a real broker. The slow database is real too: a trigger that sleeps in every write to
dsync.users."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from dsync.embedded import free_port
from dsync.metrics import WorkerMetrics
from dsync.settings import Settings
from tests.integration.test_metrics import samples
from tests.support import (
    DIRECTORY,
    apply_events,
    envelope_of,
    eventually,
    produce,
    running_worker,
    stored_offsets_total,
    user_event,
)
from worker import holds, topic_bounds
from worker.admin import admin_app
from worker.diagnostics import DirectoryStatus, collect, directory_status
from worker.holds import Hold
from worker.store import Store

pytestmark = [pytest.mark.db, pytest.mark.kafka]

TOKEN = "diagnostics-token-0123456789"
WARM_UP = "directory_01WARMUP"
BUDGET = 3.0
# Longer than the budget, so a batch that writes users is over it whatever the machine does.
SLOW_USERS = """
CREATE FUNCTION slow_users_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(4);
    RETURN NULL;
END $$;
CREATE TRIGGER slow_users AFTER INSERT OR UPDATE ON dsync.users
    FOR EACH STATEMENT EXECUTE FUNCTION slow_users_for_test();
"""
FAST_USERS = "DROP TRIGGER slow_users ON dsync.users; DROP FUNCTION slow_users_for_test();"


@asynccontextmanager
async def opened(database_url: str) -> AsyncIterator[Store]:
    store = await Store.open(database_url, size=1)
    try:
        yield store
    finally:
        await store.close()


async def status_of(store: Store, directory: str) -> DirectoryStatus | None:
    async with store.transaction() as conn:
        rows = await directory_status(conn, datetime.now(UTC))
    return next((row for row in rows if row.directory_id == directory), None)


def entry(document: dict[str, Any], directory: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        d for d in document["directories"] if d["directory_id"] == directory
    ]
    assert len(found) == 1, document
    return found[0]


async def test_slow_database_marks_the_directory_degraded_until_it_is_fast_again(
    worker_settings: Settings, db: asyncpg.Connection, database_url: str
) -> None:
    port = free_port()
    settings = worker_settings.model_copy(
        update={
            "worker_admin_port": port,
            "sync_latency_budget_seconds": BUDGET,
            "diagnostics_token": SecretStr(TOKEN),
        }
    )
    bootstrap, topic = settings.require_bootstrap_servers(), settings.events_topic
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        opened(database_url) as store,
        running_worker(settings),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as admin,
    ):
        # Whatever waits for the group join is late; only then does the test begin.
        await produce(bootstrap, topic, [envelope_of(user_event(directory_id=WARM_UP))])
        await eventually(lambda: stored_offsets_total(db), lambda n: n >= 1, within=40)
        assert await status_of(store, DIRECTORY) is None

        await db.execute(SLOW_USERS)
        slow = envelope_of(user_event(user_id="u-slow"))
        await produce(bootstrap, topic, [slow])
        degraded = await eventually(
            lambda: status_of(store, DIRECTORY), lambda s: s is not None and s.state == "degraded"
        )
        assert degraded is not None
        assert degraded.last_breach_event_id == slow.event_id
        assert degraded.last_breach_seconds is not None
        assert degraded.last_breach_seconds > BUDGET
        assert degraded.p50_seconds is not None
        assert degraded.p50_seconds > BUDGET  # applied_at is after the slow write
        served = (await admin.get("/diagnostics", headers=auth)).json()
        assert entry(served, DIRECTORY)["state"] == "degraded"
        assert entry(served, DIRECTORY)["last_breach"]["event_id"] == slow.event_id
        found = samples((await admin.get("/metrics")).text)
        breaches = ("dsync_sync_latency_budget_breaches_total", (("provider", "workos"),))
        assert found[breaches] >= 1
        assert found[("dsync_degraded_directories", ())] >= 1

        await db.execute(FAST_USERS)
        newer = user_event("updated", user_id="u-slow", updated_at=1_700_000_100.0)
        await produce(bootstrap, topic, [envelope_of(newer)])
        healthy = await eventually(
            lambda: status_of(store, DIRECTORY), lambda s: s is not None and s.state == "healthy"
        )
        assert healthy is not None
        assert healthy.applied == 2
        served = (await admin.get("/diagnostics", headers=auth)).json()
        assert entry(served, DIRECTORY)["state"] == "healthy"
        assert served["consumer_lag"]["total"] == 0
        assert len(served["consumer_lag"]["partitions"]) == 3
        found = samples((await admin.get("/metrics")).text)
        lag = {k: v for k, v in found.items() if k[0] == "dsync_worker_consumer_lag"}
        assert lag  # the partitions that had records
        assert set(lag.values()) == {0}


async def test_diagnostics_needs_a_configured_token_and_the_right_bearer(
    worker_settings: Settings, database_url: str
) -> None:
    bootstrap, topic = worker_settings.require_bootstrap_servers(), worker_settings.events_topic
    async with opened(database_url) as store:

        async def read() -> dict[str, Any]:
            async def ends() -> dict[int, int]:
                return await topic_bounds.end_offsets(bootstrap, topic)

            return (await collect(store, ends, worker_settings, datetime.now(UTC))).to_json()

        off = admin_app(WorkerMetrics(), diagnostics=read, token=None)
        on = admin_app(WorkerMetrics(), diagnostics=read, token=SecretStr(TOKEN))
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=off), base_url="http://a") as c1,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=on), base_url="http://a") as c2,
        ):
            disabled = await c1.get("/diagnostics", headers={"Authorization": f"Bearer {TOKEN}"})
            missing = await c2.get("/diagnostics")
            wrong = await c2.get("/diagnostics", headers={"Authorization": "Bearer nope"})
            basic = await c2.get("/diagnostics", headers={"Authorization": f"Basic {TOKEN}"})
            right = await c2.get("/diagnostics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert disabled.status_code == 404
    assert (missing.status_code, missing.headers["WWW-Authenticate"]) == (401, "Bearer")
    assert (wrong.status_code, wrong.headers["WWW-Authenticate"]) == (401, "Bearer")
    assert basic.status_code == 401
    assert TOKEN not in wrong.text
    assert right.status_code == 200
    assert right.json()["directories"] == []
    assert right.json()["consumer_lag"]["partitions"] == [
        {"partition": p, "end_offset": 0, "next_offset": None, "lag": 0} for p in range(3)
    ]


async def dsync(settings: Settings, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSYNC_")}
    env |= {
        "DSYNC_DATABASE_URL": settings.require_database_url(),
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.require_bootstrap_servers(),
        "DSYNC_EVENTS_TOPIC": settings.events_topic,
        "DSYNC_WORKER_GROUP_ID": settings.worker_group_id,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dsync",
        *args,
        env=env,
        cwd=Path(__file__).parents[2],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_dsync_status_reports_a_scripted_run(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    first = user_event(user_id="u-1")
    broken = user_event(user_id="u-broken")
    del broken["data"]["idp_id"]
    events = [first, user_event(user_id="u-2"), broken, first]  # the last: a duplicate
    await apply_events(worker_settings, db, [envelope_of(e) for e in events])
    # One more record of the same directory (so the same partition), produced while no
    # worker runs: the group lags by one.
    await produce(
        worker_settings.require_bootstrap_servers(),
        worker_settings.events_topic,
        [envelope_of(user_event(user_id="u-3"))],
    )

    document = json.loads(await dsync(worker_settings, "status", "--json"))
    table = await dsync(worker_settings, "status")

    mine = entry(document, DIRECTORY)
    assert mine["provider"] == "workos"
    assert mine["state"] == "healthy"
    assert mine["degraded_since"] is None
    assert mine["events_total"] == 2
    assert mine["window"]["applied"] == 2
    assert mine["window"]["dead_lettered"] == 1
    assert mine["dead_letters"] == 1
    assert mine["dead_letters_not_redriven"] == 1
    assert mine["window"]["sync_latency_p50_seconds"] > 0
    assert mine["window"]["sync_latency_p99_seconds"] >= mine["window"]["sync_latency_p50_seconds"]
    assert mine["last_webhook_received_at"] is not None
    received = datetime.fromisoformat(mine["last_webhook_received_at"])
    assert datetime.fromisoformat(mine["last_event_applied_at"]) > received
    assert document["latency_budget_seconds"] == 30.0
    assert document["consumer_lag"]["group"] == worker_settings.worker_group_id
    assert document["consumer_lag"]["total"] == 1
    assert DIRECTORY in table
    assert "healthy" in table
    assert "total: 1" in table


async def test_dsync_status_names_held_partitions_and_the_command_that_decides(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    """A held partition applies nothing until an operator decides: the first place an
    operator looks must say so, with the reason and what the worker saw."""
    group, topic = worker_settings.worker_group_id, worker_settings.events_topic
    async with (
        opened(worker_settings.require_database_url()) as store,
        store.transaction() as conn,
    ):
        await holds.place(conn, group, topic, Hold(2, "offset_beyond_end", 40, 0, 7))

    document = json.loads(await dsync(worker_settings, "status", "--json"))
    table = await dsync(worker_settings, "status")

    assert document["held_partitions"] == [
        {
            "partition": 2,
            "reason": "offset_beyond_end",
            "stored_offset": 40,
            "log_start": 0,
            "log_end": 7,
        }
    ]
    assert "partition 2: offset_beyond_end (stored 40, log 0..7)" in table
    assert "dsync offsets reset" in table
