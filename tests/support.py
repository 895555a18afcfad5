"""Helpers shared by the integration tests (not fixtures)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dsync.embedded import free_port
from dsync.settings import Settings, load_settings
from schemas.envelope import EventEnvelope
from tests.served import HOST, serving
from webhook_ingress import workos
from webhook_ingress.app import create_app
from webhook_ingress.main import KEEP_ALIVE_SECONDS
from worker.main import Worker, run_worker

T = TypeVar("T")
SECRET = "whsec_test_0123456789"
DIRECTORY = "directory_01TEST"
ORGANIZATION = "org_01TEST"


def settings_for(**values: object) -> Settings:
    base: dict[str, object] = {
        "workos_webhook_secrets": SECRET,
        "worker_poll_timeout_seconds": 0.1,
        "worker_admin_port": 0,  # tests run workers side by side; test_metrics sets one
    }
    base.update(values)
    return load_settings({}, **base)


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def user_event(
    kind: str = "created",
    *,
    user_id: str = "directory_user_1",
    event_id: str | None = None,
    updated_at: float = 1_700_000_000.0,
    directory_id: str = DIRECTORY,
    email: str = "ada@example.com",
    state: str = "active",
    first_name: str = "Ada",
) -> dict[str, Any]:
    return {
        "id": event_id or f"event_{uuid.uuid4().hex}",
        "event": f"dsync.user.{kind}",
        "data": {
            "id": user_id,
            "directory_id": directory_id,
            "organization_id": ORGANIZATION,
            "idp_id": f"idp-{user_id}",
            "email": email,
            "first_name": first_name,
            "last_name": "Lovelace",
            "state": state,
            "custom_attributes": {"department": "Engineering"},
            "created_at": iso(1_600_000_000.0),
            "updated_at": iso(updated_at),
        },
        "created_at": iso(updated_at + 1),
    }


def envelope_of(event: dict[str, Any], body: bytes | None = None) -> EventEnvelope:
    data = event.get("data", {})
    directory = data.get("id") if event["event"] in ("dsync.activated", "dsync.deleted") else None
    return EventEnvelope(
        source="workos",
        event_id=event["id"],
        event_type=event["event"],
        directory_id=directory or data.get("directory_id"),
        received_at=datetime.now(UTC),
        body=body if body is not None else json.dumps(event).encode(),
    )


async def produce(bootstrap: str, topic: str, envelopes: list[EventEnvelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for start in range(0, len(envelopes), 1000):
            acks = [
                await producer.send(topic, e.body, key=e.partition_key(), headers=e.headers())
                for e in envelopes[start : start + 1000]
            ]
            await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def consume_all(
    bootstrap: str, topic: str, expected: int, within: float = 10.0, *, linger: float = 0.0
) -> list[Any]:
    """Every record of `topic` from its start, in offset order per partition: waits up to
    `within` seconds for at least `expected`, then reads what else arrives within `linger`
    seconds (records beyond those expected: duplicates)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(records) < expected:
                records += _records(await consumer.getmany(timeout_ms=200))
        if linger:
            records += _records(await consumer.getmany(timeout_ms=int(linger * 1000)))
    finally:
        await consumer.stop()
    return records


def _records(batch: dict[Any, list[Any]]) -> list[Any]:
    return [record for records in batch.values() for record in records]


def signed_headers(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    moment = time.time() if at is None else at
    return {
        "WorkOS-Signature": workos.sign(secret, body, int(moment * 1000)),
        "Content-Type": "application/json",
    }


@asynccontextmanager
async def running_ingress(settings: Settings) -> AsyncIterator[str]:
    """A real uvicorn server with the ingress app on a free loopback port."""
    config = uvicorn.Config(
        create_app(settings),
        host=HOST,
        port=free_port(),
        lifespan="on",
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,  # as in production: no reuse-vs-close race
    )
    async with serving(config) as root:
        yield root


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[asyncio.Task[Worker]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    try:
        yield task
    finally:
        stop.set()
        await task


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 15.0
) -> T:
    """Poll `probe` until `accept` holds; fail with the last value seen."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s; last value: {value!r}")
        await asyncio.sleep(0.05)


async def stored_offsets_total(db: asyncpg.Connection) -> int:
    total = await db.fetchval(
        "SELECT coalesce(sum(next_offset), 0) FROM dsync_internal.consumer_offsets"
    )
    return int(total)


async def applied_events_total(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM dsync_internal.applied_events"))


def spread_user_events(count: int, directories: int = 12) -> list[EventEnvelope]:
    """`count` users created over `directories` directories, so over every partition."""
    return [
        envelope_of(user_event(user_id=f"user-{i}", directory_id=f"directory-{i % directories}"))
        for i in range(count)
    ]


async def apply_events(
    settings: Settings, db: asyncpg.Connection, envelopes: list[EventEnvelope]
) -> Counter[str]:
    """Produce, run a worker until every record is stored as consumed, stop it; its totals."""
    before = await stored_offsets_total(db)
    await produce(settings.require_bootstrap_servers(), settings.events_topic, envelopes)
    async with running_worker(settings) as task:
        await eventually(
            lambda: stored_offsets_total(db), lambda n: n >= before + len(envelopes), within=40
        )
    return Counter(task.result().totals)


def group_event(
    kind: str = "created",
    *,
    group_id: str = "directory_group_1",
    name: str = "Developers",
    updated_at: float = 1_700_000_000.0,
    directory_id: str = DIRECTORY,
    event_at: float | None = None,
) -> dict[str, Any]:
    return {
        "id": f"event_{uuid.uuid4().hex}",
        "event": f"dsync.group.{kind}",
        "data": {
            "id": group_id,
            "directory_id": directory_id,
            "organization_id": ORGANIZATION,
            "idp_id": f"idp-{group_id}",
            "name": name,
            "created_at": iso(1_600_000_000.0),
            "updated_at": iso(updated_at),
        },
        "created_at": iso(event_at if event_at is not None else updated_at + 1),
    }


def membership_event(
    kind: str = "user_added",
    *,
    user_id: str = "directory_user_1",
    group_id: str = "directory_group_1",
    event_at: float = 1_700_000_010.0,
    directory_id: str = DIRECTORY,
) -> dict[str, Any]:
    user = user_event(user_id=user_id, directory_id=directory_id)["data"]
    group = group_event(group_id=group_id, directory_id=directory_id)["data"]
    return {
        "id": f"event_{uuid.uuid4().hex}",
        "event": f"dsync.group.{kind}",
        "data": {"directory_id": directory_id, "user": user, "group": group},
        "created_at": iso(event_at),
    }


def directory_event(
    kind: str = "activated",
    *,
    directory_id: str = DIRECTORY,
    event_at: float = 1_700_000_000.0,
    updated_at: float = 1_600_000_000.0,
) -> dict[str, Any]:
    return {
        "id": f"event_{uuid.uuid4().hex}",
        "event": f"dsync.{kind}",
        "data": {
            "object": "directory",
            "id": directory_id,
            "organization_id": ORGANIZATION,
            "name": "Example Corp",
            "type": "okta scim v2.0",
            "state": "deleting" if kind == "deleted" else "active",
            "created_at": iso(1_600_000_000.0),
            "updated_at": iso(updated_at),
        },
        "created_at": iso(event_at),
    }


SNAPSHOT_QUERIES = {
    "directories": "SELECT * FROM dsync.directories WHERE $1::text IS NULL OR id = $1",
    "users": "SELECT * FROM dsync.users WHERE $1::text IS NULL OR directory_id = $1",
    "groups": "SELECT * FROM dsync.groups WHERE $1::text IS NULL OR directory_id = $1",
    "group_memberships": (
        "SELECT * FROM dsync.group_memberships WHERE $1::text IS NULL OR directory_id = $1"
    ),
    "membership_register": (
        "SELECT * FROM dsync_internal.memberships WHERE $1::text IS NULL OR directory_id = $1"
    ),
}


async def snapshot(db: asyncpg.Connection, directory: str | None = None) -> dict[str, list[Any]]:
    """Every public row (and the membership register), sorted, for equality checks."""
    result: dict[str, list[Any]] = {}
    for name, sql in SNAPSHOT_QUERIES.items():
        rows = await db.fetch(sql, directory)
        result[name] = sorted(tuple(row.values()) for row in rows)
    return result


class WorkerThread:
    """A worker on its own thread and event loop, for tests whose examples run many
    short event loops (hypothesis) but want one long-lived consumer-group member."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("worker thread did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await run_worker(self._settings, self._stop)

        try:
            asyncio.run(serve())
        except BaseException as exc:  # re-raised in stop(), on the test's thread
            self._error = exc
            self._ready.set()
