"""What a production log line carries: the JSON written by real `dsync` processes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from dsync.embedded import EmbeddedBroker
from dsync.settings import Settings
from dsync.topics import ensure_topics
from tests.processes import Listening, start_dsync, start_ingress, worker_env
from tests.support import (
    DIRECTORY,
    envelope_of,
    eventually,
    produce,
    signed_headers,
    stored_offsets_total,
    user_event,
)

pytestmark = pytest.mark.kafka

EMAIL = "private.person@example.com"


@pytest.fixture
async def ingress(kafka_bootstrap: str, topic: str) -> AsyncIterator[Listening]:
    # Accepted webhooks are logged at debug (the topic is their record); see the test
    # below for the default level.
    running = await start_ingress(kafka_bootstrap, topic, log_level="debug")
    try:
        yield running
    finally:
        running.running.kill()


async def test_an_accepted_webhook_logs_request_event_and_directory_ids(
    ingress: Listening,
) -> None:
    event = user_event(email=EMAIL)
    body = json.dumps(event).encode()
    headers = {**signed_headers(body), "X-Request-Id": "lb-req-0001"}

    async with httpx.AsyncClient(base_url=ingress.url) as client:
        response = await client.post("/webhooks/workos", content=body, headers=headers)
    assert await ingress.running.terminate() == 0

    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "lb-req-0001"
    [accepted] = ingress.running.events("webhook.accepted")
    assert accepted["request_id"] == "lb-req-0001"
    assert accepted["event_id"] == event["id"]
    assert accepted["directory_id"] == DIRECTORY
    assert EMAIL not in ingress.running.text()


async def test_at_the_default_level_only_refusals_are_logged(
    kafka_bootstrap: str, topic: str
) -> None:
    running = await start_ingress(kafka_bootstrap, topic)
    body = json.dumps(user_event(email=EMAIL)).encode()
    async with httpx.AsyncClient(base_url=running.url) as client:
        accepted = await client.post("/webhooks/workos", content=body, headers=signed_headers(body))
        refused = await client.post(
            "/webhooks/workos", content=body + b" ", headers=signed_headers(body)
        )
    assert await running.running.terminate() == 0

    assert (accepted.status_code, refused.status_code) == (200, 401)
    assert running.running.events("webhook.accepted") == []
    [rejected] = running.running.events("webhook.rejected")
    assert rejected["request_id"] == refused.headers["X-Request-Id"]


async def test_a_rejected_webhook_logs_the_generated_request_id(ingress: Listening) -> None:
    body = json.dumps(user_event(email=EMAIL)).encode()

    async with httpx.AsyncClient(base_url=ingress.url) as client:
        response = await client.post(
            "/webhooks/workos", content=body + b" ", headers=signed_headers(body)
        )
    assert await ingress.running.terminate() == 0

    assert response.status_code == 401
    [rejected] = ingress.running.events("webhook.rejected")
    assert rejected["request_id"] == response.headers["X-Request-Id"]
    assert "event_id" not in rejected  # nothing verified, nothing named
    assert EMAIL not in ingress.running.text()


async def test_requests_do_not_share_ids(ingress: Listening) -> None:
    events = [user_event(email=EMAIL) for _ in range(3)]

    async with httpx.AsyncClient(base_url=ingress.url) as client:
        answered = []
        for event in events:
            body = json.dumps(event).encode()
            response = await client.post(
                "/webhooks/workos", content=body, headers=signed_headers(body)
            )
            answered.append((response.headers["X-Request-Id"], event["id"]))
    assert await ingress.running.terminate() == 0

    logged = [
        (line["request_id"], line["event_id"])
        for line in ingress.running.events("webhook.accepted")
    ]
    assert logged == answered
    assert len({request_id for request_id, _ in answered}) == 3


async def test_a_dead_lettered_event_logs_its_ids_partition_and_offset(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    event = user_event(email=EMAIL)
    await produce(
        worker_settings.require_bootstrap_servers(),
        worker_settings.events_topic,
        [envelope_of(event, body=b'{"not": "a workos event"')],
    )

    worker = await start_dsync("worker", worker_env(worker_settings))
    try:
        await eventually(lambda: stored_offsets_total(db), lambda n: n == 1, within=60)
    finally:
        code = await worker.terminate()

    assert code == 0
    [line] = worker.events("worker.event_dead_lettered")
    assert line["event_id"] == event["id"]
    assert line["directory_id"] == DIRECTORY
    assert line["topic"] == worker_settings.events_topic
    stored = await db.fetchrow('SELECT partition, "offset" FROM dsync_internal.dead_letters')
    assert stored is not None
    assert (line["partition"], line["offset"]) == (stored["partition"], stored["offset"])


@pytest.mark.parametrize("first", ["webhook", "probe"])
async def test_a_request_s_ids_stay_out_of_the_producer_s_background_lines(
    tmp_path: Path, first: str
) -> None:
    """The producer's tasks (flusher, aiokafka's sender, metadata and connection tasks)
    start inside the first request that needs them, a webhook or a readiness probe, and
    outlive it: their lines must not carry its ids."""
    broker = EmbeddedBroker(tmp_path / "broker.log")
    bootstrap = broker.start()
    try:
        await ensure_topics(bootstrap, {"dsync.events": 1})
        running = await start_ingress(bootstrap, "dsync.events", broker_ack_timeout_seconds="1")
        event = user_event(email=EMAIL)
        body = json.dumps(event).encode()
        headers = {**signed_headers(body), "X-Request-Id": "first-request-0001"}
        async with httpx.AsyncClient(base_url=running.url) as client:

            async def webhook() -> int:
                return (
                    await client.post("/webhooks/workos", content=body, headers=headers)
                ).status_code

            async def probe() -> int:
                return (
                    await client.get("/readyz", headers={"X-Request-Id": "probe-0001"})
                ).status_code

            calls = [webhook, probe] if first == "webhook" else [probe, webhook]
            answers = [await call() for call in calls]
        # The broker going away makes the producer's background tasks log on their own.
        broker.stop()

        async def aiokafka_lines() -> list[dict[str, Any]]:
            return _lines_of(running, "aiokafka")

        await eventually(aiokafka_lines, lambda lines: len(lines) > 0, within=30)
    finally:
        broker.stop()
    assert await running.running.terminate() == 0

    assert answers == [200, 200]
    background = _lines_of(running, "aiokafka") + _lines_of(running, "dsync.producer")
    leaked = [line for line in background if {*line} & {"request_id", "event_id", "directory_id"}]
    assert background
    assert leaked == []
    text = running.running.text()
    # At the default level neither request writes a line of its own.
    assert "first-request-0001" not in text
    assert "probe-0001" not in text
    assert event["id"] not in text


def _lines_of(ingress: Listening, logger: str) -> list[dict[str, Any]]:
    return [
        line for line in ingress.running.log() if str(line.get("logger", "")).startswith(logger)
    ]
