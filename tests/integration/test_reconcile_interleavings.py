"""Reconciliation while live webhooks create and delete users (a hypothesis property over
interleavings): it never resurrects a deleted user and never deletes one created during
the run, whatever order the listing's pages, the live changes, their webhooks and the
corrective events take.

The adversary: live changes land between any two provider reads; each one's webhook is
delivered at once or only after the run; and the provider's single reads lag (a replica
that answers 404 for an object created after the run began), so a user created during the
run can be reported gone. Only the worker's rule for "vanished" (nothing newer than the
listing's start) then keeps it alive."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from dsync.producer import KafkaProducer
from dsync.provider_http import ProviderHttp
from dsync.topics import ensure_topics
from reconcile.listing import Kind, Listed, Object, Page
from reconcile.run import Run
from reconcile.workos import WorkOS
from schemas.envelope import EventEnvelope, Source
from tests.databases import create_database, database_url_for, drop_database
from tests.integration.test_reconcile import API_KEY, Ticking
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth
from tests.support import (
    WorkerThread,
    envelope_of,
    eventually,
    produce,
    settings_for,
    stored_offsets_total,
)
from worker.store import connect

pytestmark = [pytest.mark.db, pytest.mark.kafka]

# (before which provider read, create or delete, which user, webhook only after the run;
# else it is applied before that read)
Live = tuple[int, str, int, bool]
lives = st.lists(
    st.tuples(
        st.integers(0, 8), st.sampled_from(["create", "delete"]), st.integers(0, 9), st.booleans()
    ),
    min_size=1,
    max_size=8,
)


@dataclass
class Rig:
    settings: Any
    standin: WorkOSStandIn
    clock: Ticking
    produced: int = 0


@pytest.fixture(scope="module")
def rig(pg_admin_url: str, template_database: str, kafka_bootstrap: str) -> Iterator[Rig]:
    name = f"reconcile_{uuid.uuid4().hex[:8]}"

    async def prepare() -> None:
        await create_database(pg_admin_url, name, template_database)
        await ensure_topics(kafka_bootstrap, {name: 2, f"{name}.dlq": 1, f"{name}.changes": 1})

    asyncio.run(prepare())
    config = settings_for(
        database_url=database_url_for(pg_admin_url, name),
        kafka_bootstrap_servers=kafka_bootstrap,
        events_topic=name,
        dead_letter_topic=f"{name}.dlq",
        changes_topic=f"{name}.changes",
        worker_group_id=name,
    )
    worker = WorkerThread(config)
    worker.start()
    clock = Ticking()
    try:
        with WorkOSStandIn.running(API_KEY, truth=WorkOSTruth(clock=clock)) as standin:
            yield Rig(config, standin, clock)
    finally:
        worker.stop()
        asyncio.run(drop_database(pg_admin_url, name))


class Interleaved:
    """The WorkOS provider with live changes played before its reads, and lagging reads."""

    name: Source = "workos"

    def __init__(self, inner: WorkOS, scenario: Scenario) -> None:
        self._inner, self._scenario = inner, scenario

    async def prepare(self, directory_id: str) -> None:
        await self._inner.prepare(directory_id)

    async def users(self, cursor: str | None) -> Page:
        await self._scenario.step()
        return await self._inner.users(cursor)

    async def groups(self, cursor: str | None) -> Page:
        await self._scenario.step()
        return await self._inner.groups(cursor)

    async def members(self, group: Object) -> AsyncIterator[list[str]]:
        await self._scenario.step()
        async for ids in self._inner.members(group):
            yield ids

    def user_groups(self, user: Object) -> list[str]:
        return []

    async def gone(self, kind: Kind, object_id: str) -> bool:
        await self._scenario.step()
        lagging = object_id not in self._scenario.at_start
        return lagging or await self._inner.gone(kind, object_id)

    def read(self, kind: Kind, item: Object, at: datetime) -> Listed:
        return self._inner.read(kind, item, at)

    def event(self, listed: Listed, at: datetime, run_id: str, event_id: str) -> EventEnvelope:
        return self._inner.event(listed, at, run_id, event_id)

    def key(self, kind: Kind, object_id: str) -> str | None:
        return None


class Scenario:
    def __init__(self, rig: Rig, directory: str, lives: list[Live]) -> None:
        self.rig, self.directory, self.lives = rig, directory, lives
        self.truth = rig.standin.truth
        self.at_start = set(self.truth.users)
        self.reads = 0
        self.delayed: list[EventEnvelope] = []
        self.created: set[str] = set()
        self.deleted: set[str] = set()

    async def step(self) -> None:
        for at, action, target, delayed in self.lives:
            if at == self.reads:
                await self._play(action, target, delayed)
        self.reads += 1

    async def finish(self) -> None:
        for at, action, target, delayed in self.lives:
            if at >= self.reads:
                await self._play(action, target, delayed)
        await self._send(self.delayed)

    async def _play(self, action: str, target: int, delayed: bool) -> None:
        truth, before = self.truth, len(self.truth.events)
        if action == "create":
            self.created.add(truth.add_user(self.directory, f"live{uuid.uuid4().hex[:6]}@x.io"))
        else:
            alive = sorted(u for u, o in truth.users.items() if o["directory_id"] == self.directory)
            if not alive:
                return
            truth.delete_user(user := alive[target % len(alive)])
            self.deleted.add(user)
        envelopes = [envelope_of(s.event) for s in truth.events[before:]]
        if delayed:
            self.delayed += envelopes
        else:
            await self._send(envelopes)

    async def _send(self, envelopes: list[EventEnvelope]) -> None:
        """Produce, and wait until the worker applied them: the next provider read then
        meets tables that already hold the change."""
        settings = self.rig.settings
        await produce(settings.require_bootstrap_servers(), settings.events_topic, envelopes)
        self.rig.produced += len(envelopes)
        conn = await asyncpg.connect(settings.require_database_url())
        try:
            await eventually(lambda: stored_offsets_total(conn), lambda n: n >= self.rig.produced)
        finally:
            await conn.close()


async def scenario(rig: Rig, lives: list[Live]) -> tuple[Scenario, dict[str, bool]]:
    truth, settings = rig.standin.truth, rig.settings
    rig.clock.now = START_OF_HISTORY
    directory = truth.add_directory()
    first = len(truth.events)
    for n in range(4):
        truth.add_user(directory, f"early{n}-{uuid.uuid4().hex[:6]}@x.io")
    rig.clock.now = time.time()  # live changes happen now, after the run's start
    plan = Scenario(rig, directory, lives)
    await plan._send([envelope_of(s.event) for s in truth.events[first:]])
    conn = await connect(settings.require_database_url())
    http = ProviderHttp(rig.standin.url, SecretStr(API_KEY))
    producer = KafkaProducer(settings.require_bootstrap_servers(), ack_timeout=5, idempotent=False)
    try:
        await eventually(lambda: stored_offsets_total(conn), lambda n: n >= rig.produced, 60)
        run = Run(Interleaved(WorkOS(http), plan), conn, producer, settings.events_topic)
        outcome = await run.run(directory)
        rig.produced += sum(outcome.tally.repaired.values())
        await plan.finish()
        await eventually(lambda: stored_offsets_total(conn), lambda n: n >= rig.produced, 60)
        rows = await conn.fetch(
            "SELECT id, deleted_at IS NULL AS live FROM dsync.users WHERE directory_id = $1",
            directory,
        )
    finally:
        await producer.close()
        await http.close()
        await conn.close()
    return plan, {row["id"]: row["live"] for row in rows}


START_OF_HISTORY = 1_790_000_000.0


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(lives=lives)
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
)
def test_reconciliation_never_resurrects_nor_deletes_what_changed_during_the_run(
    rig: Rig, lives: list[Live]
) -> None:
    plan, live = asyncio.run(scenario(rig, lives))
    alive = {u for u, o in plan.truth.users.items() if o["directory_id"] == plan.directory}
    assert not any(live.get(user) for user in plan.deleted), "a deleted user is live"
    assert all(live.get(user) for user in plan.created & alive), "a new user is not live"
    assert {user for user, is_live in live.items() if is_live} == alive
