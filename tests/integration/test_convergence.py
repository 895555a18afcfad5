"""Property: whatever the delivery order, however often events repeat, and after a full
replay, the tables equal those of in-order delivery, and in-order delivery matches the
history. Through the real broker, real workers and real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsync.settings import Settings
from dsync.topics import ensure_topics
from schemas.envelope import EventEnvelope
from tests.databases import create_database, database_url_for, drop_database
from tests.histories import (
    History,
    operations,
    operations_without_directory_deletion,
    polis_envelopes,
    stytch_envelopes,
    workos_envelopes,
)
from tests.support import (
    WorkerThread,
    eventually,
    produce,
    settings_for,
    snapshot,
    stored_offsets_total,
)
from worker.replay import Range, replay

pytestmark = [pytest.mark.db, pytest.mark.kafka]

EXAMPLES = int(os.environ.get("DSYNC_CONVERGENCE_EXAMPLES", "25"))


@dataclass
class Pipeline:
    """A topic, a database and a worker consuming one into the other."""

    settings: Settings
    worker: WorkerThread
    produced: int = 0

    async def deliver(self, envelopes: list[EventEnvelope]) -> None:
        bootstrap = self.settings.require_bootstrap_servers()
        await produce(bootstrap, self.settings.events_topic, envelopes)
        self.produced += len(envelopes)
        conn = await asyncpg.connect(self.settings.require_database_url())
        try:
            await eventually(lambda: stored_offsets_total(conn), lambda n: n >= self.produced, 60)
        finally:
            await conn.close()

    async def snapshot(self, directory: str) -> dict[str, list[Any]]:
        conn = await asyncpg.connect(self.settings.require_database_url())
        try:
            return await snapshot(conn, directory)
        finally:
            await conn.close()


@dataclass
class Rig:
    in_order: Pipeline
    shuffled: Pipeline
    examples: list[int] = field(default_factory=list)


def _pipeline(admin_url: str, template: str, bootstrap: str, name: str) -> Pipeline:
    async def prepare() -> None:
        await create_database(admin_url, name, template)
        await ensure_topics(bootstrap, {name: 2})

    asyncio.run(prepare())
    config = settings_for(
        database_url=database_url_for(admin_url, name),
        kafka_bootstrap_servers=bootstrap,
        events_topic=name,
        worker_group_id=name,
        worker_max_batch=50,  # several batches per history: exercises batch boundaries
    )
    worker = WorkerThread(config)
    worker.start()
    return Pipeline(config, worker)


@pytest.fixture(scope="module")
def rig(pg_admin_url: str, template_database: str, kafka_bootstrap: str) -> Iterator[Rig]:
    suffix = uuid.uuid4().hex[:8]
    pipelines = [
        _pipeline(pg_admin_url, template_database, kafka_bootstrap, f"conv_{kind}_{suffix}")
        for kind in ("inorder", "shuffled")
    ]
    yield Rig(in_order=pipelines[0], shuffled=pipelines[1])
    for pipeline in pipelines:
        pipeline.worker.stop()

    async def drop() -> None:
        for pipeline in pipelines:
            await drop_database(pg_admin_url, pipeline.settings.events_topic)

    asyncio.run(drop())


def scrambled(envelopes: list[EventEnvelope], rnd: random.Random) -> list[EventEnvelope]:
    """A random order with random duplicates (same event id and body)."""
    delivered = envelopes + [e for e in envelopes if rnd.random() < 0.3]
    rnd.shuffle(delivered)
    return delivered


TRANSLATORS: dict[str, Callable[[History], list[EventEnvelope]]] = {
    "workos": workos_envelopes,
    "stytch": stytch_envelopes,
    "polis": polis_envelopes,
}


Test = Callable[..., None]


def convergence_property(
    ops_strategy: st.SearchStrategy[list[tuple[str, int, int]]],
) -> Callable[[Test], Test]:
    """Hypothesis settings shared by the three provider properties."""

    def decorate(test: Test) -> Test:
        test = given(ops=ops_strategy, rnd=st.randoms(use_true_random=False))(test)
        test = settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )(test)
        # The worker threads' aiokafka clients use the global `random` module while this
        # thread draws examples; hypothesis takes that for random use inside a strategy.
        marked: Test = pytest.mark.filterwarnings(
            "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
        )(test)
        return marked

    return decorate


@convergence_property(operations)
def test_workos_streams_converge_in_any_delivery_order(
    rig: Rig, ops: list[tuple[str, int, int]], rnd: random.Random
) -> None:
    check_convergence(rig, "workos", ops, rnd)


@convergence_property(operations)
def test_stytch_streams_converge_in_any_delivery_order(
    rig: Rig, ops: list[tuple[str, int, int]], rnd: random.Random
) -> None:
    check_convergence(rig, "stytch", ops, rnd)


@convergence_property(operations_without_directory_deletion)
def test_polis_streams_converge_in_any_delivery_order(
    rig: Rig, ops: list[tuple[str, int, int]], rnd: random.Random
) -> None:
    check_convergence(rig, "polis", ops, rnd)


def check_convergence(
    rig: Rig, provider: str, ops: list[tuple[str, int, int]], rnd: random.Random
) -> None:
    directory = f"dir_{uuid.uuid4().hex[:10]}"
    history = History(directory).run(ops)
    expected = history.expected()
    in_order = TRANSLATORS[provider](history)
    delivered = scrambled(in_order, rnd)  # draw everything before any I/O

    async def scenario() -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        await rig.in_order.deliver(in_order)
        await rig.shuffled.deliver(delivered)
        await replay(rig.shuffled.settings, Range(directory=directory))
        return await rig.in_order.snapshot(directory), await rig.shuffled.snapshot(directory)

    tables, shuffled = asyncio.run(scenario())

    assert shuffled == tables, json.dumps(history.events, indent=1)[:4000]
    users = {row[0]: row for row in tables["users"]}
    groups = {row[0]: row for row in tables["groups"]}
    live_users = {uid for uid, row in users.items() if row[-1] is None}
    live_groups = {gid for gid, row in groups.items() if row[-1] is None}
    assert live_users == expected.live_users
    assert live_groups == expected.live_groups
    assert {(row[1], row[2]) for row in tables["group_memberships"]} == expected.memberships
    if provider != "polis":
        assert bool(tables["directories"][0][-1]) == expected.directory_deleted
