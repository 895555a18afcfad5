"""Ready means an event can be stored: the broker answers and the events topic exists.
A missing topic is never created as a side effect (of a probe or of a webhook), so a
broker restarted empty cannot swallow 200s into a topic nobody created."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dsync.embedded import EmbeddedBroker
from dsync.producer import METADATA_MAX_AGE_SECONDS
from dsync.topics import ensure_topics
from tests.support import eventually, running_ingress, settings_for, signed_headers, user_event
from tests.topic_admin import broker_topics, delete_topic
from webhook_ingress.readiness import READY_CACHE_SECONDS
from worker.consumer import KafkaSource

pytestmark = pytest.mark.kafka

ACK_TIMEOUT = 1.0


async def post_event(client: httpx.AsyncClient) -> httpx.Response:
    body = json.dumps(user_event()).encode()
    return await client.post("/webhooks/workos", content=body, headers=signed_headers(body))


async def readyz(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/readyz")


@pytest.fixture
async def ingress_without_topic(
    kafka_bootstrap: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An ingress whose events topic does not exist on the broker."""
    topic = f"dsync.test.missing.{uuid.uuid4().hex[:12]}"
    settings = settings_for(
        kafka_bootstrap_servers=kafka_bootstrap,
        events_topic=topic,
        broker_ack_timeout_seconds=ACK_TIMEOUT,
    )
    async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
        yield client, topic


async def test_readyz_is_503_until_the_events_topic_exists(
    ingress_without_topic: tuple[httpx.AsyncClient, str], kafka_bootstrap: str
) -> None:
    client, topic = ingress_without_topic

    missing = await readyz(client)
    still_missing = topic not in await broker_topics(kafka_bootstrap)
    await ensure_topics(kafka_bootstrap, {topic: 3})
    created = await eventually(
        lambda: readyz(client), lambda r: r.status_code == 200, within=READY_CACHE_SECONDS + 10
    )

    assert missing.status_code == 503
    assert missing.json() == {"status": "topic_unavailable"}
    assert still_missing  # the probe did not create it
    assert created.json() == {"status": "ready"}


async def test_a_webhook_to_a_missing_topic_gets_503_and_creates_nothing(
    ingress_without_topic: tuple[httpx.AsyncClient, str], kafka_bootstrap: str
) -> None:
    client, topic = ingress_without_topic

    started = time.monotonic()
    answers = [await post_event(client) for _ in range(3)]
    took = time.monotonic() - started

    assert [a.status_code for a in answers] == [503, 503, 503]
    assert answers[0].json()["error"] == "broker_unavailable"
    assert answers[0].headers["retry-after"] == "5"
    assert topic not in await broker_topics(kafka_bootstrap)
    # Each answer within the ack timeout (the bound the README promises), with slack for
    # a loaded machine.
    assert took < 3 * (ACK_TIMEOUT + 1.0)


async def test_readyz_and_webhooks_are_503_once_the_topic_is_deleted(
    ingress_without_topic: tuple[httpx.AsyncClient, str], kafka_bootstrap: str
) -> None:
    client, topic = ingress_without_topic
    await ensure_topics(kafka_bootstrap, {topic: 3})
    await eventually(
        lambda: readyz(client), lambda r: r.status_code == 200, within=READY_CACHE_SECONDS + 10
    )
    accepted = await post_event(client)

    await delete_topic(kafka_bootstrap, topic)
    gone = await eventually(
        lambda: readyz(client), lambda r: r.status_code == 503, within=READY_CACHE_SECONDS + 10
    )
    # The probe that saw it gone refreshed what the producer knows: no 200 from here on.
    later = [await post_event(client) for _ in range(3)]

    assert accepted.status_code == 200
    assert gone.json() == {"status": "topic_unavailable"}
    assert [r.status_code for r in later] == [503, 503, 503]
    assert topic not in await broker_topics(kafka_bootstrap)


async def test_without_probes_a_deleted_topic_is_noticed_within_the_metadata_age(
    ingress_without_topic: tuple[httpx.AsyncClient, str], kafka_bootstrap: str
) -> None:
    """The embedded broker acknowledges writes to a deleted topic (Kafka refuses them), so
    the producer's own refresh is what stops the 200s."""
    client, topic = ingress_without_topic
    await ensure_topics(kafka_bootstrap, {topic: 3})
    accepted = await eventually(
        lambda: post_event(client), lambda r: r.status_code == 200, within=10
    )

    await delete_topic(kafka_bootstrap, topic)
    deleted_at = time.monotonic()
    refused = await eventually(
        lambda: post_event(client),
        lambda r: r.status_code == 503,
        within=METADATA_MAX_AGE_SECONDS + 10,
    )
    noticed_after = time.monotonic() - deleted_at
    later = [await post_event(client) for _ in range(3)]

    assert accepted.status_code == 200
    assert refused.json()["error"] == "broker_unavailable"
    assert noticed_after < METADATA_MAX_AGE_SECONDS + 2 * ACK_TIMEOUT + 2
    assert [r.status_code for r in later] == [503, 503, 503]
    assert topic not in await broker_topics(kafka_bootstrap)


async def test_a_broker_restarted_empty_gets_no_200_until_the_topic_is_created_again(
    tmp_path: Path,
) -> None:
    """The probe of issue 17: the broker lost every topic; the ingress must not answer 200
    (and must not recreate the topic with the broker's defaults) until `dsync topics`."""
    broker = EmbeddedBroker(tmp_path / "broker.log")
    bootstrap = broker.start()
    settings = settings_for(
        kafka_bootstrap_servers=bootstrap,
        events_topic="dsync.events",
        broker_ack_timeout_seconds=ACK_TIMEOUT,
    )
    try:
        await ensure_topics(bootstrap, {"dsync.events": 3})
        async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
            before = await post_event(client)
            broker.stop()
            broker = EmbeddedBroker(tmp_path / "broker.log", port=int(bootstrap.split(":")[1]))
            broker.start()
            not_ready = await eventually(
                lambda: readyz(client),
                lambda r: r.status_code == 503,
                within=READY_CACHE_SECONDS + 10,
            )
            during = [(await post_event(client)).status_code for _ in range(5)]
            recreated_by_us = "dsync.events" in await broker_topics(bootstrap)
            await ensure_topics(bootstrap, {"dsync.events": 3})
            after = await eventually(
                lambda: post_event(client), lambda r: r.status_code == 200, within=15
            )
    finally:
        broker.stop()

    assert before.status_code == 200
    assert not_ready.json() == {"status": "topic_unavailable"}
    assert during == [503] * 5
    assert not recreated_by_us
    assert after.status_code == 200


async def test_a_worker_subscribed_to_a_missing_topic_does_not_create_it(
    kafka_bootstrap: str,
) -> None:
    """Otherwise, with the worker running (`make run`), a broker restarted empty gets the
    events topic back from the worker's consumer within seconds, with the broker's default
    partitions, and the ingress answers 200 into it again."""
    topic = f"dsync.test.missing.{uuid.uuid4().hex[:12]}"

    async def no_stored_offsets(_topic: str) -> dict[int, int]:
        return {}

    source = KafkaSource(
        kafka_bootstrap,
        topic,
        "dsync-test-missing",
        stored_offsets=no_stored_offsets,
        max_records=10,
    )
    # start() waits for the topic (and gives up at aiokafka's request timeout, 40 s): the
    # metadata requests it sends meanwhile must not create it.
    stop = asyncio.Event()
    starting = asyncio.create_task(source.start(stop))
    try:
        await asyncio.sleep(3)
        created = topic in await broker_topics(kafka_bootstrap)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        await source.stop()

    assert not created
