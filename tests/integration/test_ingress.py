"""The ingress over real HTTP (uvicorn) against a real broker."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import structlog

from dsync.embedded import EmbeddedBroker, free_port
from dsync.topics import ensure_topics
from schemas.envelope import decode_envelope
from tests.support import (
    DIRECTORY,
    SECRET,
    consume_all,
    running_ingress,
    settings_for,
    signed_headers,
    user_event,
)

pytestmark = pytest.mark.kafka


@pytest.fixture
async def ingress(kafka_bootstrap: str, topic: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(kafka_bootstrap_servers=kafka_bootstrap, events_topic=topic)
    async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
        yield client


def body_of(event: dict[str, object]) -> bytes:
    return json.dumps(event).encode()


async def test_signed_event_is_on_the_topic_before_200(
    ingress: httpx.AsyncClient, kafka_bootstrap: str, topic: str
) -> None:
    event = user_event()
    body = body_of(event)

    response = await ingress.post("/webhooks/workos", content=body, headers=signed_headers(body))

    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "event_id": event["id"]}
    [record] = await consume_all(kafka_bootstrap, topic, expected=1)
    assert record.value == body  # the verified bytes, untouched
    assert record.key == DIRECTORY.encode()
    envelope = decode_envelope(record.headers, record.value)
    assert (envelope.source, envelope.event_id) == ("workos", event["id"])
    assert envelope.event_type == "dsync.user.created"
    assert envelope.directory_id == DIRECTORY


async def test_tampered_body_gets_401(ingress: httpx.AsyncClient) -> None:
    body = body_of(user_event())
    headers = signed_headers(body)

    response = await ingress.post(
        "/webhooks/workos", content=body.replace(b"Ada", b"Eve"), headers=headers
    )

    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"


async def test_missing_signature_gets_401(ingress: httpx.AsyncClient) -> None:
    response = await ingress.post("/webhooks/workos", content=body_of(user_event()))

    assert response.status_code == 401


async def test_old_timestamp_gets_401(ingress: httpx.AsyncClient) -> None:
    body = body_of(user_event())

    response = await ingress.post(
        "/webhooks/workos", content=body, headers=signed_headers(body, at=time.time() - 600)
    )

    assert response.status_code == 401
    assert response.json()["error"] == "stale_timestamp"


async def test_signed_non_json_gets_400(ingress: httpx.AsyncClient) -> None:
    body = b"\xff\xfenot json"

    response = await ingress.post("/webhooks/workos", content=body, headers=signed_headers(body))

    assert response.status_code == 400
    assert response.json()["error"] == "malformed"


async def test_signed_json_without_event_id_gets_400(ingress: httpx.AsyncClient) -> None:
    body = b'{"event": "dsync.user.created", "data": {}}'

    response = await ingress.post("/webhooks/workos", content=body, headers=signed_headers(body))

    assert response.status_code == 400


async def test_body_over_the_cap_gets_413(ingress: httpx.AsyncClient) -> None:
    body = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'

    response = await ingress.post("/webhooks/workos", content=body, headers=signed_headers(body))

    assert response.status_code == 413


async def test_streamed_body_without_length_is_cut_at_the_cap(ingress: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    response = await ingress.post(
        "/webhooks/workos", content=chunks(), headers={"WorkOS-Signature": "t=1, v1=" + "0" * 64}
    )

    assert response.status_code == 413


async def test_wrong_method_is_405(ingress: httpx.AsyncClient) -> None:
    assert (await ingress.get("/webhooks/workos")).status_code == 405


async def test_health_and_readiness(ingress: httpx.AsyncClient) -> None:
    assert (await ingress.get("/healthz")).json() == {"status": "ok"}
    assert (await ingress.get("/readyz")).status_code == 200


async def test_provider_without_secret_gets_404(kafka_bootstrap: str, topic: str) -> None:
    settings = settings_for(
        kafka_bootstrap_servers=kafka_bootstrap, events_topic=topic, workos_webhook_secrets=""
    )
    body = body_of(user_event())
    async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/webhooks/workos", content=body, headers=signed_headers(body))

    assert response.status_code == 404


async def test_rotated_secrets_are_both_accepted(kafka_bootstrap: str, topic: str) -> None:
    settings = settings_for(
        kafka_bootstrap_servers=kafka_bootstrap,
        events_topic=topic,
        workos_webhook_secrets=f"whsec_new_secret, {SECRET}",
    )
    async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
        for secret in ("whsec_new_secret", SECRET):
            body = body_of(user_event())
            headers = signed_headers(body, secret=secret)
            assert (
                await client.post("/webhooks/workos", content=body, headers=headers)
            ).status_code == 200


async def test_broker_down_gets_503_not_500(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "broker.log")
    bootstrap = broker.start()
    await ensure_topics(bootstrap, {"dsync.events": 1})
    settings = settings_for(kafka_bootstrap_servers=bootstrap, broker_ack_timeout_seconds=1.0)
    try:
        async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
            first = body_of(user_event())
            before = await client.post(
                "/webhooks/workos", content=first, headers=signed_headers(first)
            )
            broker.stop()
            body = body_of(user_event())
            response = await client.post(
                "/webhooks/workos", content=body, headers=signed_headers(body)
            )
            ready = await client.get("/readyz")
    finally:
        broker.stop()

    assert before.status_code == 200
    assert response.status_code == 503
    assert response.json()["error"] == "broker_unavailable"
    assert response.headers["retry-after"] == "5"
    assert ready.status_code == 503


async def test_ingress_starts_and_answers_503_while_the_broker_is_unreachable() -> None:
    settings = settings_for(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", broker_ack_timeout_seconds=1.0
    )
    async with running_ingress(settings) as base, httpx.AsyncClient(base_url=base) as client:
        body = body_of(user_event())
        response = await client.post("/webhooks/workos", content=body, headers=signed_headers(body))
        health = await client.get("/healthz")

    assert response.status_code == 503
    assert health.status_code == 200


async def test_logs_carry_ids_but_no_email_or_secret(ingress: httpx.AsyncClient) -> None:
    event = user_event(email="private.person@example.com")
    body = body_of(event)

    with structlog.testing.capture_logs() as logs:
        await ingress.post("/webhooks/workos", content=body, headers=signed_headers(body))
        await ingress.post("/webhooks/workos", content=body + b" ", headers=signed_headers(body))

    text = repr(logs)
    assert event["id"] in text
    assert "private.person" not in text
    assert SECRET not in text
