"""The puller under faults at the worst moments: SIGKILL mid-stream with a standby waiting
on the lock, the broker refusing a page, the database session lost right after the broker
acknowledged (before the cursor is stored). Nothing is lost; at most one page is produced
twice (the worker's inbox drops the copies)."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
import pytest
from pydantic import SecretStr

from dsync.producer import KafkaProducer, Message, ProduceError
from dsync.provider_http import ProviderHttp
from dsync.settings import Settings
from dsync.source_metrics import PullMetrics
from pull.cursor_store import CursorStore
from pull.events_api import PAGE_SIZE, EventsApi
from pull.loop import Puller
from tests.pull_support import (
    API_KEY,
    FAST_RETRIES,
    duplicates,
    event_ids,
    options,
    produced_ids,
    pull_once,
    pull_settings,
    start_puller_process,
    stored_cursor,
)
from tests.standins.workos import WorkOSStandIn
from tests.support import eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka]
EVENTS = 2000  # twenty pages


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(API_KEY, events_delay=0.25) as running:
        directory = running.truth.add_directory()
        for n in range(EVENTS - 1):
            running.truth.add_user(directory, f"u{n}@example.com")
        yield running


async def test_sigkill_mid_stream_the_standby_continues_and_nothing_is_lost(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    settings = pull_settings(worker_settings, standin)
    every = event_ids(standin.truth)
    active = await start_puller_process(settings)
    standby = None
    try:
        await eventually(lambda: asyncio.sleep(0, active.events("pull.lock_acquired")), bool)
        standby = await start_puller_process(settings)
        await eventually(lambda: asyncio.sleep(0, standby.events("pull.waiting_for_lock")), bool)
        await eventually(
            lambda: stored_cursor(db), lambda c: c is not None and c >= every[PAGE_SIZE * 8]
        )
        active.kill()  # SIGKILL
        await active.exited()
        at_kill = await stored_cursor(db)
        assert at_kill is not None
        assert at_kill < every[-1]  # mid-stream
        await eventually(lambda: stored_cursor(db), lambda c: c == every[-1], within=30)
        assert standby.events("pull.lock_acquired")
        resumed = [q for _, q in standin.traffic.queries if "after=" in q]
        assert any(q.endswith(f"after={at_kill}") or f"after={at_kill}&" in q for q in resumed)
    finally:
        active.kill()
        if standby is not None:
            assert await standby.terminate() == 0
    ids = await produced_ids(settings.require_bootstrap_servers(), settings.events_topic, EVENTS)
    assert set(ids) == set(every)
    assert duplicates(ids) <= PAGE_SIZE  # at most the page in flight at the kill


class FaultyProducer:
    """The real producer, with one fault injected at a chosen call: `refuse` raises
    ProduceError instead of sending; `after_ack` runs once the broker acknowledged."""

    def __init__(self, real: KafkaProducer, at_call: int) -> None:
        self.real, self.at_call, self.calls = real, at_call, 0
        self.refuse = False
        self.after_ack: asyncpg.Connection | None = None
        self.killed_pid: int | None = None

    async def send_all(self, messages: Sequence[Message]) -> None:
        self.calls += 1
        if self.calls == self.at_call and self.refuse:
            raise ProduceError("KafkaTimeoutError")
        await self.real.send_all(messages)
        if self.calls == self.at_call and self.after_ack is not None and self.killed_pid:
            await self.after_ack.execute("SELECT pg_terminate_backend($1)", self.killed_pid)

    async def close(self) -> None:
        await self.real.close()


@asynccontextmanager
async def puller_with(settings: Settings, producer: FaultyProducer) -> AsyncIterator[Puller]:
    """A puller of this test's own, on the real store, stand-in and (faulty) producer."""
    http = ProviderHttp(settings.workos_api_base_url, SecretStr(API_KEY), policy=FAST_RETRIES)
    store = await CursorStore.connect(settings.require_database_url(), "workos", "default")
    producer.killed_pid = store._conn.get_server_pid()
    try:
        yield Puller(EventsApi(http), store, producer, options(settings), PullMetrics())
    finally:
        await producer.close()
        await http.close()
        await store.close()


async def test_broker_refusing_a_page_keeps_the_cursor_before_it(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    settings = pull_settings(worker_settings, standin)
    every = event_ids(standin.truth)
    real = KafkaProducer(settings.require_bootstrap_servers(), ack_timeout=5, idempotent=False)
    producer = FaultyProducer(real, at_call=3)
    producer.refuse = True
    async with puller_with(settings, producer) as puller:
        with pytest.raises(ProduceError):  # --once gives up; a long-running one retries
            await puller.run(asyncio.Event())
        assert await stored_cursor(db) == every[2 * PAGE_SIZE - 1]  # two pages, not three
        await puller.run(asyncio.Event())
    ids = await produced_ids(settings.require_bootstrap_servers(), settings.events_topic, EVENTS)
    assert sorted(ids) == sorted(every)


async def test_session_lost_after_the_ack_repeats_one_page_and_loses_nothing(
    worker_settings: Settings, standin: WorkOSStandIn, db: asyncpg.Connection
) -> None:
    settings = pull_settings(worker_settings, standin)
    every = event_ids(standin.truth)
    real = KafkaProducer(settings.require_bootstrap_servers(), ack_timeout=5, idempotent=False)
    producer = FaultyProducer(real, at_call=4)
    producer.after_ack = db
    async with puller_with(settings, producer) as puller:
        # How asyncpg reports a session the server ended depends on when it reads the
        # news: any of these, and the puller stops (its cursor write never happens).
        lost = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
        with pytest.raises((*lost, OSError)):
            await puller.run(asyncio.Event())
    assert await stored_cursor(db) == every[3 * PAGE_SIZE - 1]  # the fourth page is not stored
    await pull_once(settings)  # a restart
    ids = await produced_ids(settings.require_bootstrap_servers(), settings.events_topic, EVENTS)
    assert set(ids) == set(every)
    assert duplicates(ids) == PAGE_SIZE  # exactly the page acknowledged but not recorded


async def test_missing_api_key_is_a_usage_error_not_a_crash(worker_settings: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSYNC_")}
    env |= {
        "DSYNC_DEV_ENV": "",
        "DSYNC_DATABASE_URL": worker_settings.require_database_url(),
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": worker_settings.require_bootstrap_servers(),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dsync", "pull", "workos", "--once", env=env, stderr=PIPE
    )
    _, stderr = await process.communicate()
    assert process.returncode == 1
    assert stderr.decode().strip().endswith("of the environment to pull")
    assert "Traceback" not in stderr.decode()
