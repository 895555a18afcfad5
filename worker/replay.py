"""`dsync replay` and `dsync rebuild`: re-apply a range of the events topic.

Replay reads the topic with its own consumer (no group, so the workers' positions are
untouched) from the beginning or from a time, up to the moment it started, optionally for
one directory, and applies it without the event-id inbox: the merge rules alone make this
harmless, so a replay of any range leaves the tables as they were. Rebuild empties the
directory tables and replays everything in one transaction, so readers see the old
tables until the new ones are complete. Their chains of steps: worker/chain.py.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition

from dsync.kafka_clients import short_lived_consumer
from dsync.logs import Log
from dsync.settings import Settings
from worker import repository as repo
from worker.access import sync_all_access
from worker.ahead import read_ahead
from worker.chain import REBUILD, REPLAY, apply_items
from worker.decode import decode
from worker.item import Decoded, Outcome, Record
from worker.store import Store

_log = Log("worker.replay")

_DECODE_SLICE = 256  # records decoded between yields to the event loop


@dataclass(frozen=True, slots=True)
class Range:
    """Where to start (None: the beginning) and which directory (None: all)."""

    from_time: datetime | None = None
    directory: str | None = None


async def replay(settings: Settings, what: Range) -> Counter[Outcome]:
    """Re-apply a range, one transaction per fetched batch."""
    store = await Store.open(settings.require_database_url(), size=1)
    totals: Counter[Outcome] = Counter()
    try:
        batches = read_ahead(_read(settings, what, settings.worker_max_batch))
        async with aclosing(batches):
            async for items in batches:
                async with store.transaction() as conn:
                    totals.update((await apply_items(conn, REPLAY, items)).outcomes)
    finally:
        await store.close()
    _log.info("replay.finished", totals=dict(totals), directory=what.directory)
    return totals


async def rebuild(settings: Settings) -> Counter[Outcome]:
    """Empty the directory tables and re-apply the whole topic, atomically."""
    store = await Store.open(settings.require_database_url(), size=1)
    totals: Counter[Outcome] = Counter()
    started = time.perf_counter()
    try:
        async with (
            store.transaction() as conn,
            aclosing(read_ahead(_read(settings, Range(), settings.rebuild_batch))) as batches,
        ):
            await repo.clear_directory_tables(conn)
            async for items in batches:
                applied = await apply_items(conn, REBUILD, items)
                totals.update(applied.outcomes)
            _log.info(
                "rebuild.applied",
                totals=dict(totals),
                seconds=round(time.perf_counter() - started, 3),
            )
            access = await sync_all_access(conn)
    finally:
        await store.close()
    _log.info(
        "rebuild.finished",
        totals=dict(totals),
        accounts_created=access.created,
        accounts_deactivated=access.deactivated,
        roles_changed=access.roles_changed,
        seconds=round(time.perf_counter() - started, 3),
    )
    return totals


async def _read(
    settings: Settings, what: Range, batch_size: int
) -> AsyncGenerator[list[Decoded], None]:
    """Decoded records of the range, a fetched batch at a time, in offset order per
    partition. Stops at records produced after the read began, or when nothing is left."""
    started_ms = int(time.time() * 1000)
    async with _assigned(settings) as (consumer, partitions):
        await _seek(consumer, partitions, what.from_time)
        done: set[TopicPartition] = set()
        while len(done) < len(partitions):
            fetched = await consumer.getmany(timeout_ms=1000, max_records=batch_size)
            if not any(fetched.values()):
                return
            batch: list[Decoded] = []
            for tp, messages in fetched.items():
                for message in messages:
                    if message.timestamp >= started_ms:
                        done.add(tp)
                        consumer.pause(tp)
                        break
                    batch.append(decode(_record(message)))
                    if len(batch) % _DECODE_SLICE == 0:
                        await asyncio.sleep(0)  # let the batch in hand take its replies
            wanted = [item for item in batch if _in_directory(item, what.directory)]
            if wanted:
                yield wanted


@asynccontextmanager
async def _assigned(settings: Settings) -> AsyncIterator[tuple[Any, list[TopicPartition]]]:
    async with short_lived_consumer(
        settings.require_bootstrap_servers(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    ) as consumer:
        await consumer.topics()  # loads metadata
        numbers = consumer.partitions_for_topic(settings.events_topic) or set()
        partitions = [TopicPartition(settings.events_topic, p) for p in sorted(numbers)]
        consumer.assign(partitions)
        yield consumer, partitions


async def _seek(
    consumer: Any, partitions: list[TopicPartition], from_time: datetime | None
) -> None:
    if from_time is None:
        await consumer.seek_to_beginning(*partitions)
        return
    wanted = {tp: int(from_time.timestamp() * 1000) for tp in partitions}
    found = await consumer.offsets_for_times(wanted)
    for tp in partitions:
        if found.get(tp) is None:
            await consumer.seek_to_end(tp)
        else:
            consumer.seek(tp, found[tp].offset)


def _record(message: Any) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        value=message.value,
        headers=tuple(message.headers or ()),
    )


def _in_directory(item: Decoded, directory: str | None) -> bool:
    if directory is None:
        return True
    return item.envelope is not None and item.envelope.directory_id == directory
