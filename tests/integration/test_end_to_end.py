"""The whole path: signed HTTP request -> ingress -> broker -> worker -> PostgreSQL."""

from __future__ import annotations

import time
import uuid

import asyncpg
import httpx
import pytest

from dsync.shell.sample import sample
from tests.support import eventually, running_ingress, running_worker, settings_for, signed_headers

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def test_sample_event_lands_in_users_once(
    database_url: str, kafka_bootstrap: str, topic: str, db: asyncpg.Connection
) -> None:
    settings = settings_for(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        events_topic=topic,
        worker_group_id=f"dsync-e2e-{uuid.uuid4().hex[:8]}",
    )
    body, user_id = sample("workos").body, sample("workos").user_id

    async with (
        running_worker(settings) as worker,
        running_ingress(settings) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        await eventually(lambda: client.get("/readyz"), lambda r: r.status_code == 200)
        sent = time.monotonic()
        first = await client.post("/webhooks/workos", content=body, headers=signed_headers(body))
        row = await eventually(
            lambda: db.fetchrow("SELECT * FROM dsync.users WHERE id = $1", user_id),
            lambda r: r is not None,
            within=30,
        )
        latency = time.monotonic() - sent
        second = await client.post("/webhooks/workos", content=body, headers=signed_headers(body))
        await eventually(
            lambda: db.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM dsync_internal.consumer_offsets"
            ),
            lambda n: n >= 2,
        )
        after = await db.fetchrow("SELECT * FROM dsync.users WHERE id = $1", user_id)

    assert (first.status_code, second.status_code) == (200, 200)
    assert row is not None
    assert row["email"] == "ada.lovelace@example.com"
    assert after == row
    assert worker.result().totals == {"applied": 1, "duplicate": 1}
    print(f"webhook -> row latency (includes the worker's first group join): {latency:.2f} s")
