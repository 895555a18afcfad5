"""Held partitions end to end: a wrong stream (a recreated topic, a stored offset past the
log's end, a gap) and the dead-letter cap stop only their partition, loudly, until an
operator decides with `dsync offsets reset|resume`; the worker stays up meanwhile."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner

from dsync.embedded import EmbeddedBroker
from dsync.settings import Settings
from dsync.topics import ensure_topics
from tests.processes import DsyncProcess, run_dsync, start_dsync, worker_env
from tests.support import apply_events, envelope_of, eventually, produce, user_event
from tests.topic_admin import delete_topic
from worker.batch import Stream
from worker.chain import apply_polled, live_sync
from worker.decode import decode
from worker.item import Record
from worker.store import Store

pytestmark = [pytest.mark.db, pytest.mark.kafka]

ACTOR = "ops-alice"


def directory_on(partition: int, partitions: int = 3) -> str:
    """A directory id whose events the default partitioner puts on `partition`."""
    choose = DefaultPartitioner()
    for n in range(1000):
        directory = f"directory_{n}"
        if (
            choose(directory.encode(), list(range(partitions)), list(range(partitions)))
            == partition
        ):
            return directory
    raise AssertionError("no directory found")


def users(directory: str, count: int, prefix: str = "u", **fields: Any) -> list[Any]:
    return [
        envelope_of(
            user_event(user_id=f"{prefix}_{directory}_{i}", directory_id=directory, **fields)
        )
        for i in range(count)
    ]


def broken(directory: str, count: int, prefix: str = "bad") -> list[Any]:
    envelopes = []
    for i in range(count):
        event = user_event(user_id=f"{prefix}_{directory}_{i}", directory_id=directory)
        del event["data"]["idp_id"]
        envelopes.append(envelope_of(event))
    return envelopes


async def user_count(db: asyncpg.Connection, directory: str) -> int:
    return int(
        await db.fetchval("SELECT count(*) FROM dsync.users WHERE directory_id = $1", directory)
    )


async def active_holds(db: asyncpg.Connection) -> dict[int, str]:
    rows = await db.fetch(
        "SELECT partition, reason FROM dsync_internal.partition_holds WHERE released_at IS NULL"
    )
    return {row["partition"]: row["reason"] for row in rows}


async def stored(db: asyncpg.Connection) -> dict[int, int]:
    rows = await db.fetch(
        "SELECT partition, next_offset FROM dsync_internal.consumer_offsets WHERE next_offset >= 0"
    )
    return {row["partition"]: row["next_offset"] for row in rows}


async def dead_letters(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM dsync_internal.dead_letters"))


async def recreate(bootstrap: str, topic: str) -> None:
    """Delete the topic, then create it again empty (what a broker that lost its data and
    an operator's `dsync topics` amount to)."""
    await delete_topic(bootstrap, topic)
    await ensure_topics(bootstrap, {topic: 3})


async def offsets(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = {
        "DSYNC_DATABASE_URL": settings.require_database_url(),
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.require_bootstrap_servers(),
        "DSYNC_EVENTS_TOPIC": settings.events_topic,
        "DSYNC_WORKER_GROUP_ID": settings.worker_group_id,
        "DSYNC_ACTOR": ACTOR,
    }
    return await run_dsync(env, "offsets", *args)


def held_lines(worker: DsyncProcess, partition: int) -> list[dict[str, Any]]:
    return [e for e in worker.events("worker.partition_held") if e["partition"] == partition]


async def audit(db: asyncpg.Connection) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    rows = await db.fetch(
        "SELECT action, details, cause FROM dsync.audit_log"
        " WHERE organization_id = 'dsync:operations' ORDER BY seq"
    )
    return [(r["action"], json.loads(r["details"]), json.loads(r["cause"])) for r in rows]


async def test_topic_recreated_under_a_running_worker_is_held_until_an_offset_reset(
    worker_settings: Settings, db: asyncpg.Connection, kafka_bootstrap: str
) -> None:
    settings = worker_settings
    topic = settings.events_topic
    a, b, c = directory_on(0), directory_on(1), directory_on(2)
    await produce(kafka_bootstrap, topic, users(a, 20) + users(b, 10))
    worker = await start_dsync("worker", worker_env(settings))
    try:
        await eventually(lambda: stored(db), lambda s: s == {0: 20, 1: 10}, within=60)

        await delete_topic(kafka_bootstrap, topic)
        held = await eventually(lambda: active_holds(db), lambda h: len(h) == 2, within=30)
        assert held == {0: "partition_missing", 1: "partition_missing"}
        await ensure_topics(kafka_bootstrap, {topic: 3})
        await produce(kafka_bootstrap, topic, users(a, 5, "new") + users(c, 3))

        # The partition without a stored offset goes on; the held ones apply nothing.
        await eventually(lambda: user_count(db, c), lambda n: n == 3, within=30)
        await asyncio.sleep(2)
        assert await user_count(db, a) == 20
        assert await stored(db) == {0: 20, 1: 10, 2: 3}
        (line,) = held_lines(worker, 0)
        assert line["level"] == "error"
        assert (line["topic"], line["reason"], line["stored_offset"]) == (
            topic,
            "partition_missing",
            20,
        )

        code, out, _ = await offsets(settings, "show")
        assert code == 0
        shown = {row["partition"]: row for row in json.loads(out)}
        assert (shown[0]["stored_offset"], shown[0]["log_start"], shown[0]["log_end"]) == (20, 0, 5)
        assert shown[0]["hold"]["reason"] == "partition_missing"
        assert shown[2]["hold"] is None

        code, _, err = await offsets(settings, "reset", "--partition", "0", "--to", "earliest")
        assert code != 0
        assert "--yes" in err
        code, _, err = await offsets(settings, "reset", "--partition", "0", "--to", "9", "--yes")
        assert code != 0
        assert "outside the log" in err
        assert await active_holds(db) == held  # refused: nothing changed

        code, out, err = await offsets(
            settings, "reset", "--partition", "0", "--to", "earliest", "--yes"
        )
        assert code == 0, err
        assert json.loads(out)["previous_offset"] == 20
        # Resumed without a restart: the recreated partition's records are applied.
        await eventually(lambda: user_count(db, a), lambda n: n == 25, within=30)
        assert worker.process.returncode is None
        assert await active_holds(db) == {1: "partition_missing"}

        code, _, err = await offsets(
            settings, "reset", "--partition", "1", "--to", "latest", "--yes"
        )
        assert code == 0, err
        await eventually(lambda: active_holds(db), lambda h: h == {}, within=10)
        await eventually(lambda: stored(db), lambda s: s == {0: 5, 1: 0, 2: 3}, within=30)
        resumed = [e["partition"] for e in worker.events("worker.partition_resumed")]
        assert 0 in resumed

        # A partition that is not held moves too: read again from the start, as duplicates.
        code, _, err = await offsets(
            settings, "reset", "--partition", "2", "--to", "earliest", "--yes"
        )
        assert code == 0, err
        await asyncio.sleep(2)
        await eventually(lambda: stored(db), lambda s: s == {0: 5, 1: 0, 2: 3}, within=30)
    finally:
        assert await worker.terminate() == 0
    (stopping,) = worker.events("worker.stopping")
    assert stopping["totals"] == {"applied": 38, "duplicate": 3}

    actions = await audit(db)
    assert [
        (action, details["partition"], cause["actor"]) for action, details, cause in actions
    ] == [
        ("stream.offset_reset", 0, ACTOR),
        ("stream.offset_reset", 1, ACTOR),
        ("stream.offset_reset", 2, ACTOR),
    ]
    assert actions[0][1]["previous_offset"] == 20
    assert actions[0][1]["offset"] == 0
    assert actions[0][1]["released_hold"] == "partition_missing"


async def test_worker_started_on_a_recreated_topic_holds_the_partition_past_its_end(
    worker_settings: Settings, db: asyncpg.Connection, kafka_bootstrap: str
) -> None:
    settings = worker_settings
    topic = settings.events_topic
    a = directory_on(0)
    await apply_events(settings, db, users(a, 10))
    await recreate(kafka_bootstrap, topic)
    await produce(kafka_bootstrap, topic, users(a, 3, "new"))

    worker = await start_dsync("worker", worker_env(settings))
    try:
        await eventually(
            lambda: active_holds(db), lambda h: h == {0: "offset_beyond_end"}, within=60
        )
        await asyncio.sleep(1)
        assert await user_count(db, a) == 10  # none of the recreated partition's records
        assert await stored(db) == {0: 10}
    finally:
        assert await worker.terminate() == 0
    (line,) = held_lines(worker, 0)
    assert line["level"] == "error"
    assert (line["topic"], line["stored_offset"], line["log_start"], line["log_end"]) == (
        topic,
        10,
        0,
        3,
    )


async def test_dead_letter_cap_holds_the_partition_across_restarts_until_resumed(
    worker_settings: Settings, db: asyncpg.Connection, kafka_bootstrap: str
) -> None:
    settings = worker_settings
    topic = settings.events_topic
    a, b = directory_on(0), directory_on(1)
    await produce(kafka_bootstrap, topic, broken(a, 12) + users(b, 5))

    first = await start_dsync("worker", worker_env(settings))
    try:
        await eventually(lambda: active_holds(db), lambda h: h == {0: "dead_letter_cap"}, within=60)
        await eventually(lambda: user_count(db, b), lambda n: n == 5, within=30)
        assert await dead_letters(db) == 0  # rolled back: nothing dead-lettered yet
    finally:
        assert await first.terminate() == 0  # held, not crashed
    (line,) = held_lines(first, 0)
    assert (line["reason"], line["dead_lettered"], line["events"]) == ("dead_letter_cap", 12, 12)

    second = await start_dsync("worker", worker_env(settings))
    try:
        await produce(kafka_bootstrap, topic, users(b, 5, "more"))
        await eventually(lambda: user_count(db, b), lambda n: n == 10, within=30)
        assert await active_holds(db) == {0: "dead_letter_cap"}  # the restart kept it
        assert await dead_letters(db) == 0
        assert 0 not in await stored(db)

        code, _, err = await offsets(settings, "resume", "--partition", "0")
        assert code != 0
        assert "--yes" in err
        code, _, err = await offsets(settings, "resume", "--partition", "1", "--yes")
        assert code != 0
        assert "not held" in err
        code, out, err = await offsets(settings, "resume", "--partition", "0", "--yes")
        assert code == 0, err
        assert json.loads(out)["accepted_through"] == 11
        await eventually(lambda: dead_letters(db), lambda n: n == 12, within=30)
        await eventually(lambda: stored(db), lambda s: s.get(0) == 12, within=10)
        assert await active_holds(db) == {}

        # The cap still guards what comes after the accepted batch.
        await produce(kafka_bootstrap, topic, broken(a, 12, "later"))
        await eventually(lambda: active_holds(db), lambda h: h == {0: "dead_letter_cap"}, within=30)
        assert await dead_letters(db) == 12
        assert second.process.returncode is None
    finally:
        assert await second.terminate() == 0

    code, out, err = await run_dsync(
        {"DSYNC_DATABASE_URL": settings.require_database_url()},
        "audit",
        "verify",
        "--organization",
        "dsync:operations",
    )
    assert code == 0, err
    assert json.loads(out)[0]["problems"] == []
    ((action, details, cause),) = await audit(db)
    assert (action, details["partition"], details["accepted_from"], cause["actor"]) == (
        "stream.hold_released",
        0,
        0,
        ACTOR,
    )


async def test_records_that_start_after_the_stored_offset_hold_the_partition(
    database_url: str, db: asyncpg.Connection
) -> None:
    """What a worker meets when retention removed records it never applied: its position
    restarts at the log's start (auto_offset_reset), past the stored offset. Tansu cannot
    delete records, so the records are handed to the fence directly."""
    stream = Stream("group", "topic")

    def items(offsets: range) -> list[Any]:
        events = users("directory_x", offsets.stop)
        return [
            decode(Record("topic", 0, n, events[n].body, tuple(events[n].headers())))
            for n in offsets
        ]

    chain = live_sync(stream, budget_seconds=60.0)
    store = await Store.open(database_url, size=1)
    try:
        async with store.transaction() as conn:
            await apply_polled(conn, chain, {0: items(range(0, 5))})
        async with store.transaction() as conn:
            result = await apply_polled(conn, chain, {0: items(range(8, 10))})
        async with store.transaction() as conn:
            again = await apply_polled(conn, chain, {0: items(range(5, 10))})
    finally:
        await store.close()

    assert result.next_offsets == {}
    assert sum(result.outcomes.values()) == 0
    assert again.next_offsets == {}
    assert sum(again.outcomes.values()) == 0
    assert await user_count(db, "directory_x") == 5
    row = await db.fetchrow("SELECT * FROM dsync_internal.partition_holds")
    assert row is not None
    assert (row["reason"], row["stored_offset"], json.loads(row["detail"])) == (
        "offset_gap",
        5,
        {"first_offset_read": 8},
    )
    assert await stored(db) == {0: 5}


async def test_broker_restarted_empty_mid_stream_holds_instead_of_skipping(
    worker_settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """The probe of issue 17: the broker is killed while the worker runs and comes back
    with no topics; an operator runs `dsync topics` and webhooks arrive again. A broker of
    this test's own, since the session's is shared."""
    broker = EmbeddedBroker(tmp_path / "broker.log")
    bootstrap = broker.start()
    topic = worker_settings.events_topic
    topics = {topic: 3, f"{topic}.dlq": 1, f"{topic}.changes": 3}
    settings = worker_settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
    a, b, c = directory_on(0), directory_on(1), directory_on(2)
    worker: DsyncProcess | None = None
    try:
        await ensure_topics(bootstrap, topics)
        await produce(bootstrap, topic, users(a, 20) + users(b, 10))
        worker = await start_dsync("worker", worker_env(settings))
        await eventually(lambda: stored(db), lambda s: s == {0: 20, 1: 10}, within=60)

        broker.stop()
        await asyncio.sleep(2)
        broker.start()
        await ensure_topics(bootstrap, topics)
        await produce(bootstrap, topic, users(a, 5, "new") + users(b, 4, "new") + users(c, 3))

        held = await eventually(lambda: active_holds(db), lambda h: len(h) == 2, within=90)
        assert set(held) == {0, 1}
        assert set(held.values()) <= {"partition_missing", "offset_beyond_end"}
        await eventually(lambda: user_count(db, c), lambda n: n == 3, within=60)
        await asyncio.sleep(2)
        assert (await user_count(db, a), await user_count(db, b)) == (20, 10)
        assert worker.process.returncode is None
        assert {e["partition"] for e in worker.events("worker.partition_held")} == {0, 1}
    finally:
        if worker is not None:
            assert await worker.terminate() == 0
        broker.stop()
