"""`/metrics` on the ingress and on the worker's admin port move as traffic flows."""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dsync.embedded import free_port
from dsync.settings import Settings
from tests.support import (
    envelope_of,
    eventually,
    produce,
    running_ingress,
    running_worker,
    settings_for,
    signed_headers,
    stored_offsets_total,
    user_event,
)

pytestmark = [pytest.mark.kafka]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_ingress_counts_each_outcome(kafka_bootstrap: str, topic: str) -> None:
    settings = settings_for(kafka_bootstrap_servers=kafka_bootstrap, events_topic=topic)
    good = json.dumps(user_event()).encode()
    async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
        await client.post("/webhooks/workos", content=good, headers=signed_headers(good))
        await client.post("/webhooks/workos", content=good + b" ", headers=signed_headers(good))
        await client.post("/webhooks/workos", content=b"x" * 2_000_000, headers=signed_headers(b""))
        text = (await client.get("/metrics")).text

    found = samples(text)
    requests = "dsync_ingress_requests_total"
    accepted = (
        ("event_type", "dsync.user.created"),
        ("outcome", "accepted"),
        ("provider", "workos"),
    )
    rejected = (("event_type", "unknown"), ("outcome", "bad_signature"), ("provider", "workos"))
    too_large = (("event_type", "unknown"), ("outcome", "too_large"), ("provider", "workos"))
    assert found[(requests, accepted)] == 1
    assert found[(requests, rejected)] == 1
    assert found[(requests, too_large)] == 1
    assert found[("dsync_ingress_broker_ack_seconds_count", ())] == 1


@pytest.mark.db
async def test_worker_counts_applied_and_dead_lettered(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    port = free_port()
    settings = worker_settings.model_copy(update={"worker_admin_port": port})
    broken = user_event(user_id="u-broken")
    del broken["data"]["idp_id"]
    events = [envelope_of(user_event(user_id=f"u-{uuid.uuid4().hex[:6]}")), envelope_of(broken)]
    await produce(settings.require_bootstrap_servers(), settings.events_topic, events)

    async with running_worker(settings), httpx.AsyncClient() as client:
        await eventually(lambda: stored_offsets_total(db), lambda n: n >= 2, within=40)
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text

    found = samples(text)
    events_total = "dsync_worker_events_total"
    applied = (("event_type", "dsync.user.created"), ("outcome", "applied"), ("provider", "workos"))
    dead = (
        ("event_type", "dsync.user.created"),
        ("outcome", "dead_lettered"),
        ("provider", "workos"),
    )
    assert found[(events_total, applied)] == 1
    assert found[(events_total, dead)] == 1
    assert found[("dsync_dead_letters_total", (("provider", "workos"),))] == 1
    assert found[("dsync_sync_latency_seconds_count", (("provider", "workos"),))] == 1
    assert found[("dsync_worker_batch_seconds_count", ())] >= 1


@pytest.mark.db
async def test_worker_counts_deprovisions_and_revoked_credentials(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    port = free_port()
    settings = worker_settings.model_copy(update={"worker_admin_port": port})
    bootstrap, topic = settings.require_bootstrap_servers(), settings.events_topic

    async with running_worker(settings), httpx.AsyncClient() as client:
        await produce(bootstrap, topic, [envelope_of(user_event(user_id="u-leaver"))])
        await eventually(lambda: stored_offsets_total(db), lambda n: n >= 1, within=40)
        account = await db.fetchval(
            "SELECT id FROM dsync.accounts WHERE directory_user_id = 'u-leaver'"
        )
        await db.execute("INSERT INTO dsync.sessions (account_id) VALUES ($1), ($1)", account)
        await db.execute("INSERT INTO dsync.api_keys (account_id) VALUES ($1)", account)
        deletion = user_event("deleted", user_id="u-leaver", updated_at=1_700_000_100.0)
        await produce(bootstrap, topic, [envelope_of(deletion)])
        await eventually(lambda: stored_offsets_total(db), lambda n: n >= 2, within=40)
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text

    found = samples(text)
    assert found[("dsync_deprovisions_total", (("provider", "workos"),))] == 1
    assert found[("dsync_credentials_revoked_total", (("kind", "session"),))] == 2
    assert found[("dsync_credentials_revoked_total", (("kind", "api_key"),))] == 1
    assert ("dsync_credentials_revoked_total", (("kind", "device_token"),)) not in found
