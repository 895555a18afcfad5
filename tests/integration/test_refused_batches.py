"""A batch the database refuses: the refused events are found by splitting the batch
(bisection), not by re-applying it one event per transaction, and the outcome is exactly
what applying every event alone would give."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from dsync.settings import Settings
from tests.databases import own_database
from tests.support import (
    consume_all,
    envelope_of,
    eventually,
    produce,
    running_worker,
    snapshot,
    stored_offsets_total,
    user_event,
)
from worker.batch import Stream
from worker.chain import apply_polled, live_sync
from worker.decode import decode
from worker.errors import PermanentDbError
from worker.item import Record
from worker.store import Store

pytestmark = [pytest.mark.db, pytest.mark.kafka]

REFUSE = "ALTER TABLE dsync.users ADD CONSTRAINT users_refused CHECK (id NOT LIKE 'refused%')"


@pytest.fixture
async def reference_url(pg_admin_url: str, template_database: str) -> AsyncIterator[str]:
    """A second migrated database, for the one-event-per-transaction reference run."""
    async with own_database(pg_admin_url, template_database) as url:
        yield url


async def one_by_one(database_url: str, stream: Stream, records: list[Any]) -> None:
    """The reference: every record in its own transaction, a refused one dead-lettered."""
    chain = live_sync(stream, budget_seconds=60.0)
    store = await Store.open(database_url, size=1)
    try:
        for message in sorted(records, key=lambda m: (m.partition, m.offset)):
            item = decode(
                Record(
                    message.topic,
                    message.partition,
                    message.offset,
                    message.value,
                    tuple(message.headers),
                )
            )
            try:
                async with store.transaction() as conn:
                    await apply_polled(conn, chain, {message.partition: [item]})
            except PermanentDbError as exc:
                async with store.transaction() as conn:
                    reason = f"database refused the event ({exc})"
                    refused = {message.partition: [item.refused(reason)]}
                    await apply_polled(conn, chain, refused)
    finally:
        await store.close()


async def outcome(db: asyncpg.Connection) -> dict[str, Any]:
    """Tables, dead letters, the inbox and the stored offsets: what must not differ."""
    letters = await db.fetch(
        'SELECT event_id, reason, topic, partition, "offset" FROM dsync_internal.dead_letters'
    )
    inbox = await db.fetch(
        'SELECT event_id, outcome, partition, "offset" FROM dsync_internal.applied_events'
    )
    offsets = await db.fetch("SELECT partition, next_offset FROM dsync_internal.consumer_offsets")
    return {
        "tables": await snapshot(db),
        "dead_letters": sorted(tuple(r.values()) for r in letters),
        "inbox": sorted(tuple(r.values()) for r in inbox),
        "offsets": sorted(tuple(r.values()) for r in offsets),
    }


async def test_refused_events_are_found_by_bisection_with_the_one_by_one_outcome(
    worker_settings: Settings, db: asyncpg.Connection, reference_url: str
) -> None:
    n, refused_at = 1200, (17, 400, 401, 777, 1150)
    events = []
    for i in range(n):
        prefix = "refused" if i in refused_at else "u"
        directory = "directory_A" if i % 3 else "directory_B"  # two partitions (or one)
        events.append(user_event(user_id=f"{prefix}{i:05}", directory_id=directory))
    settings = worker_settings.model_copy(update={"worker_max_batch": 2000})
    await db.execute(REFUSE)
    bootstrap = settings.require_bootstrap_servers()
    await produce(bootstrap, settings.events_topic, [envelope_of(e) for e in events])

    async with running_worker(settings) as task:
        await eventually(lambda: stored_offsets_total(db), lambda s: s >= n, within=90)
    worker = task.result()

    reference = await asyncpg.connect(reference_url)
    try:
        await reference.execute(REFUSE)
        records = await consume_all(bootstrap, settings.events_topic, n, within=30)
        await one_by_one(
            reference_url, Stream(settings.worker_group_id, settings.events_topic), records
        )
        expected = await outcome(reference)
    finally:
        await reference.close()

    found = await outcome(db)
    assert found == expected
    assert len(found["dead_letters"]) == len(refused_at)
    assert worker.totals["applied"] == n - len(refused_at)
    # k refused events among n: each costs about 2·log2(n) transactions (the failing half
    # and its sibling at every level) plus its own dead letter, not n transactions.
    k = len(refused_at)
    bound = k * (2 * math.ceil(math.log2(n)) + 2)
    assert 0 < worker.refused_batch_transactions <= bound, (
        worker.refused_batch_transactions,
        bound,
    )
