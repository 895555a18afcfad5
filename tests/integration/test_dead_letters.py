"""Dead letters end to end: the table, the dead-letter topic (through the outbox relay),
`dsync dlq` and redrive; and the relay's order and at-least-once delivery."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from dsync.embedded import free_port
from dsync.producer import KafkaProducer, ProduceError
from dsync.settings import Settings
from dsync.topics import ensure_topics
from tests.processes import run_dsync
from tests.support import (
    DIRECTORY,
    consume_all,
    envelope_of,
    eventually,
    produce,
    running_worker,
    snapshot,
    stored_offsets_total,
    user_event,
)
from worker.chain import REPLAY, apply_items
from worker.decode import decode
from worker.dlq import redrive
from worker.item import Record
from worker.outbox import RELAY_LOCK_KEY, Relay, relay_once
from worker.store import Store

pytestmark = [pytest.mark.db, pytest.mark.kafka]


@pytest.fixture
async def settings(worker_settings: Settings, kafka_bootstrap: str) -> Settings:
    """This test's own dead-letter and changes topics, one partition each (total order)."""
    suffix = uuid.uuid4().hex[:12]
    topics = {"dead_letter_topic": f"dsync.test.dlq.{suffix}"}
    topics["changes_topic"] = f"dsync.test.changes.{suffix}"
    await ensure_topics(kafka_bootstrap, dict.fromkeys(topics.values(), 1))
    return worker_settings.model_copy(update=topics)


async def consumed_and_relayed(db: asyncpg.Connection) -> tuple[int, int]:
    outbox = await db.fetchval("SELECT count(*) FROM dsync_internal.outbox")
    return await stored_offsets_total(db), int(outbox)


async def user_ids(db: asyncpg.Connection) -> list[str]:
    return [row["id"] for row in await db.fetch("SELECT id FROM dsync.users ORDER BY id")]


def headers_of(record: Any) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


async def dsync(settings: Settings, *args: str) -> str:
    """Run the `dsync` command in its own process; its standard output."""
    env = {
        "DSYNC_DATABASE_URL": settings.require_database_url(),
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.require_bootstrap_servers(),
        "DSYNC_EVENTS_TOPIC": settings.events_topic,
    }
    code, out, err = await run_dsync(env, *args)
    assert code == 0, err[-3000:]
    return out


async def test_poison_event_lands_in_the_table_and_on_the_dead_letter_topic(
    settings: Settings, db: asyncpg.Connection
) -> None:
    broken = user_event(user_id="directory_user_broken")
    del broken["data"]["idp_id"]
    good = user_event(user_id="directory_user_good")
    body = json.dumps(broken).encode()
    await produce(
        settings.require_bootstrap_servers(),
        settings.events_topic,
        [envelope_of(broken, body), envelope_of(good)],
    )

    async with running_worker(settings):
        await eventually(lambda: consumed_and_relayed(db), lambda s: s == (2, 0), within=40)

    assert await user_ids(db) == ["directory_user_good"]
    letter = await db.fetchrow("SELECT * FROM dsync_internal.dead_letters")
    assert letter is not None
    (record,) = await consume_all(
        settings.require_bootstrap_servers(), settings.dead_letter_topic, 1
    )
    assert record.value == body
    assert record.key == DIRECTORY.encode()
    headers = headers_of(record)
    assert headers["dsync-dead-letter-id"] == str(letter["id"])
    assert headers["dsync-dead-letter-reason"] == letter["reason"]
    assert "idp_id" in headers["dsync-dead-letter-reason"]
    assert headers["dsync-dead-letter-topic"] == settings.events_topic
    assert headers["dsync-dead-letter-offset"] == str(letter["offset"])
    assert headers["dsync-dead-letter-partition"] == str(letter["partition"])
    assert headers["dsync-event-id"] == broken["id"]
    assert headers["dsync-event-type"] == "dsync.user.created"


async def test_redrive_all_produces_each_letter_never_redriven_once(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """No worker: what reaches the events topic, and which rows are marked."""
    broken = [user_event(user_id=f"u{n}", directory_id=f"directory_{n}") for n in range(3)]
    for event in broken:
        del event["data"]["idp_id"]
    envelopes = [envelope_of(event) for event in broken]
    store = await Store.open(settings.require_database_url(), size=1)
    producer = KafkaProducer(settings.require_bootstrap_servers(), ack_timeout=5, idempotent=False)
    try:
        async with store.transaction() as conn:
            for n, envelope in enumerate(envelopes):
                record = Record("elsewhere", 0, n, envelope.body, tuple(envelope.headers()))
                await apply_items(conn, REPLAY, [decode(record)])
            await conn.execute(
                "UPDATE dsync_internal.dead_letters SET redriven_at = now()"
                " WHERE directory_id = 'directory_0'"
            )
        first = await redrive(store, producer, settings.events_topic, ids=None, directory=None)
        again = await redrive(store, producer, settings.events_topic, ids=None, directory=None)
    finally:
        await producer.close()
        await store.close()

    ids = [
        row["id"]
        for row in await db.fetch("SELECT id FROM dsync_internal.dead_letters ORDER BY id")
    ]
    assert (first, again) == (ids[1:], [])
    records = await consume_all(settings.require_bootstrap_servers(), settings.events_topic, 2)
    by_key = {r.key: r for r in records}
    assert sorted(by_key) == [b"directory_1", b"directory_2"]
    assert by_key[b"directory_1"].value == envelopes[1].body
    assert sorted(by_key[b"directory_1"].headers) == sorted(envelopes[1].headers())
    counts = await db.fetch("SELECT redrive_count FROM dsync_internal.dead_letters ORDER BY id")
    assert [row["redrive_count"] for row in counts] == [0, 1, 1]


async def test_event_refused_by_a_constraint_is_redriven_once_fixed(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await db.execute(
        "ALTER TABLE dsync.users ADD CONSTRAINT users_not_blocked"
        " CHECK (id <> 'directory_user_blocked')"
    )
    blocked = user_event(user_id="directory_user_blocked")
    events = [
        user_event(user_id="directory_user_a"),
        blocked,
        user_event(user_id="directory_user_b"),
    ]
    bootstrap = settings.require_bootstrap_servers()
    await produce(bootstrap, settings.events_topic, [envelope_of(e) for e in events])

    async with running_worker(settings) as worker:
        await eventually(lambda: consumed_and_relayed(db), lambda s: s == (3, 0), within=40)
        assert await user_ids(db) == ["directory_user_a", "directory_user_b"]
        letter = await db.fetchrow("SELECT id, reason FROM dsync_internal.dead_letters")
        assert letter is not None
        letter_id, reason = letter["id"], letter["reason"]
        assert reason == "database refused the event (23514: users_not_blocked)"
        (record,) = await consume_all(bootstrap, settings.dead_letter_topic, 1)
        assert headers_of(record)["dsync-dead-letter-reason"] == reason

        listed = json.loads(await dsync(settings, "dlq", "list", "--json"))
        assert [(row["id"], row["reason"], row["redrive_count"]) for row in listed] == [
            (letter_id, reason, 0)
        ]
        shown = json.loads(await dsync(settings, "dlq", "show", "--id", str(letter_id)))
        assert shown["headers"]["dsync-event-id"] == blocked["id"]
        assert "body" not in shown  # personal data: only with --body
        with_body = await dsync(settings, "dlq", "show", "--id", str(letter_id), "--body")
        assert json.loads(json.loads(with_body)["body"])["id"] == blocked["id"]

        await db.execute("ALTER TABLE dsync.users DROP CONSTRAINT users_not_blocked")
        redriven = await dsync(settings, "dlq", "redrive", "--id", str(letter_id))
        assert json.loads(redriven) == {"redriven": [letter_id]}
        await eventually(lambda: consumed_and_relayed(db), lambda s: s == (4, 0), within=40)
        fixed = await snapshot(db)
        await dsync(settings, "dlq", "redrive", "--id", str(letter_id))
        await eventually(lambda: consumed_and_relayed(db), lambda s: s == (5, 0), within=40)

    assert await user_ids(db) == ["directory_user_a", "directory_user_b", "directory_user_blocked"]
    assert await snapshot(db) == fixed
    assert worker.result().totals == {"applied": 3, "dead_lettered": 1, "duplicate": 1}
    outcomes = await db.fetch(
        "SELECT outcome FROM dsync_internal.applied_events WHERE event_id = $1", blocked["id"]
    )
    assert [row["outcome"] for row in outcomes] == ["applied"]
    row = await db.fetchrow(
        "SELECT redrive_count, redriven_at FROM dsync_internal.dead_letters WHERE id = $1",
        letter_id,
    )
    assert row is not None
    assert row["redrive_count"] == 2
    assert row["redriven_at"] is not None
    assert await db.fetchval("SELECT count(*) FROM dsync_internal.dead_letters") == 1


async def fill_outbox(db: asyncpg.Connection, count: int) -> None:
    for n in range(count):
        await db.execute(
            "INSERT INTO dsync_internal.outbox (stream, key, headers, value)"
            " VALUES ('changes', $1, $2::jsonb, $3)",
            f"directory-{n % 2}",
            json.dumps({"dsync-change": str(n), "dsync-seq": n}),
            f"change-{n}".encode(),
        )


async def outbox_count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM dsync_internal.outbox"))


def unreachable() -> KafkaProducer:
    """A producer pointed at a closed port."""
    return KafkaProducer(f"127.0.0.1:{free_port()}", ack_timeout=2.0, idempotent=False)


async def test_relay_keeps_rows_while_the_broker_is_unreachable_and_publishes_them_later(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await fill_outbox(db, 5)
    store = await Store.open(settings.require_database_url(), size=2)
    down = unreachable()
    up = KafkaProducer(settings.require_bootstrap_servers(), ack_timeout=5.0, idempotent=False)
    pending: list[int] = []
    try:
        with pytest.raises(ProduceError):
            await relay_once(store, down, settings)
        assert await outbox_count(db) == 5
        await Relay(store, down, settings, pending.append).relay()  # logged, not raised
        assert pending == [5]

        assert await relay_once(store, up, settings) == 5
        assert await relay_once(store, up, settings) == 0  # empty, and the lock was ours
        await Relay(store, up, settings, pending.append).relay()
    finally:
        await asyncio.gather(down.close(), up.close())
        await store.close()

    assert pending == [5, 0]
    assert await outbox_count(db) == 0
    records = await consume_all(settings.require_bootstrap_servers(), settings.changes_topic, 5)
    assert [r.value for r in records] == [f"change-{n}".encode() for n in range(5)]
    assert [r.key for r in records] == [f"directory-{n % 2}".encode() for n in range(5)]
    assert [headers_of(r) for r in records][3] == {"dsync-change": "3", "dsync-seq": "3"}


async def test_only_one_relay_runs_at_a_time(settings: Settings, db: asyncpg.Connection) -> None:
    await fill_outbox(db, 2)
    store = await Store.open(settings.require_database_url(), size=1)
    down = unreachable()  # would raise if the relay tried to produce
    try:
        await db.execute("SELECT pg_advisory_lock($1)", RELAY_LOCK_KEY)
        assert await relay_once(store, down, settings) is None
        pending: list[int] = []
        await Relay(store, down, settings, pending.append).relay()
        assert pending == [2]  # counted: the other relay's progress is not known here
        await db.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_KEY)
        with pytest.raises(ProduceError):
            await relay_once(store, down, settings)
    finally:
        await down.close()
        await store.close()
    assert await outbox_count(db) == 2
