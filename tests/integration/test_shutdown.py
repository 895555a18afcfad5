"""SIGTERM, as Kubernetes sends it: the worker loses nothing, the ingress drains."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import asyncpg
import pytest

from dsync.settings import Settings
from tests.processes import Listening, start_dsync, start_ingress, worker_env, worker_totals
from tests.support import (
    applied_events_total,
    consume_all,
    eventually,
    produce,
    signed_headers,
    spread_user_events,
    stored_offsets_total,
    user_event,
)

pytestmark = [pytest.mark.db, pytest.mark.kafka]

EVENTS = 20_000


async def users_count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM dsync.users"))


async def test_worker_sigterm_mid_stream_loses_nothing(
    worker_settings: Settings, db: asyncpg.Connection
) -> None:
    events = spread_user_events(EVENTS)
    await produce(worker_settings.require_bootstrap_servers(), worker_settings.events_topic, events)

    first = await start_dsync("worker", worker_env(worker_settings))
    await eventually(lambda: applied_events_total(db), lambda n: n >= 2000, within=60)
    first_code = await first.terminate()
    applied_by_first = await applied_events_total(db)
    covered_by_offsets = await stored_offsets_total(db)
    users_after_first = await users_count(db)

    second = await start_dsync("worker", worker_env(worker_settings))
    await eventually(lambda: stored_offsets_total(db), lambda n: n >= EVENTS, within=120)
    second_code = await second.terminate()

    print(f"SIGTERM after {applied_by_first} applied; the restart applied {worker_totals(second)}")
    assert first_code == 0
    assert first.events("worker.stopped"), first.text()[-3000:]
    assert 0 < applied_by_first < EVENTS, "the SIGTERM must land mid-stream"
    # What the first worker committed is exactly what its stored offsets cover: no batch
    # half-applied, none applied without its offset, none counted but rolled back.
    assert users_after_first == applied_by_first == covered_by_offsets
    assert worker_totals(first).get("applied") == applied_by_first
    # The restart resumes exactly there: nothing twice, nothing missing.
    assert second_code == 0
    assert worker_totals(second).get("duplicate", 0) == 0
    assert applied_by_first + worker_totals(second)["applied"] == EVENTS
    assert await applied_events_total(db) == EVENTS
    assert await users_count(db) == EVENTS


@pytest.fixture
async def ingress(kafka_bootstrap: str, topic: str) -> AsyncIterator[Listening]:
    running = await start_ingress(kafka_bootstrap, topic)
    try:
        yield running
    finally:
        running.running.kill()


async def refuses_connections(ingress: Listening) -> bool:
    try:
        _, writer = await asyncio.open_connection(ingress.host, ingress.port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of an HTTP/1.1 response that ends the connection."""
    raw = await reader.read()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_ingress_sigterm_finishes_the_request_in_flight(
    ingress: Listening, kafka_bootstrap: str, topic: str
) -> None:
    event = user_event()
    body = json.dumps(event).encode()
    reader, writer = await asyncio.open_connection(ingress.host, ingress.port)
    headers = {
        **signed_headers(body),
        "Host": ingress.host,
        "Content-Length": str(len(body)),
        # The server answers "100 Continue" when the endpoint starts reading the body: the
        # request is then in flight for sure, with its body still to come.
        "Expect": "100-continue",
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"POST /webhooks/workos HTTP/1.1\r\n{head}\r\n".encode())
    await writer.drain()
    interim = await reader.readuntil(b"\r\n\r\n")
    assert interim.startswith(b"HTTP/1.1 100 ")

    ingress.running.process.send_signal(signal.SIGTERM)
    await eventually(lambda: refuses_connections(ingress), lambda refused: refused, within=10)
    writer.write(body)
    await writer.drain()
    status, answer = await read_response(reader)
    writer.close()
    code = await ingress.running.exited()

    assert status == 200
    assert json.loads(answer) == {"status": "accepted", "event_id": event["id"]}
    [record] = await consume_all(kafka_bootstrap, topic, expected=1)
    assert record.value == body
    assert code == 0
    assert ingress.running.events("ingress.stopped"), ingress.running.text()[-3000:]
