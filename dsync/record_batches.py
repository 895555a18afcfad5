"""How a flush's messages become Kafka record batches (the producer's pure-ish half).

A message goes to the partition its key hashes to (murmur2, as the Java client and
aiokafka's default partitioner do, so every producer of a topic puts a key in the same
place); a flush builds one record batch per partition, in the order of first use, and
more when one is full. Within a partition, messages keep the order they were given.
Only the partitions of a topic come from the broker (the client's metadata)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aiokafka.errors import UnknownTopicOrPartitionError
from aiokafka.partitioner import DefaultPartitioner


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(slots=True)
class RecordBatch:
    """One partition's records of a flush, and which callers (their index) have one in it."""

    topic: str
    partition: int
    builder: Any  # aiokafka's BatchBuilder
    callers: set[int] = field(default_factory=set)


async def record_batches(producer: Any, calls: Sequence[Sequence[Message]]) -> list[RecordBatch]:
    """Each caller's messages, in batches built by `producer` (a started AIOKafkaProducer):
    one per partition in the order of first use (more when a batch is full); each message
    keeps its place within its partition."""
    partitions: dict[str, tuple[int, ...]] = {}
    open_batches: dict[tuple[str, int], RecordBatch] = {}
    batches: list[RecordBatch] = []
    for index, messages in enumerate(calls):
        for message in messages:
            known = partitions.get(message.topic)
            if known is None:
                known = partitions[message.topic] = await partitions_of(producer, message.topic)
            partition = partition_of(message.key, known)
            batch = open_batches.get((message.topic, partition))
            if batch is None or not _append(batch, message):
                batch = RecordBatch(message.topic, partition, producer.create_batch())
                open_batches[(message.topic, partition)] = batch
                batches.append(batch)
                _append(batch, message)  # the first record always fits
            batch.callers.add(index)
    return batches


async def partitions_of(producer: Any, topic: str) -> tuple[int, ...]:
    """The topic's partitions as last seen, refreshed once when unknown. A topic the broker
    does not have fails the flush at once (UnknownTopicOrPartitionError, so 503) instead
    of at the ack timeout, the wait of aiokafka's own `partitions_for`."""
    client = producer.client
    known = client.cluster.partitions_for_topic(topic)
    if not known:
        await client.force_metadata_update()
        known = client.cluster.partitions_for_topic(topic)
    if not known:
        raise UnknownTopicOrPartitionError(topic)
    return tuple(sorted(known))


def writable(metadata: Any, topic: str) -> bool:
    """The topic exists and every partition has a leader (a keyed message may go to any)."""
    partitions = metadata.partitions_for_topic(topic)
    return bool(partitions) and metadata.available_partitions_for_topic(topic) == partitions


def _append(batch: RecordBatch, message: Message) -> bool:
    appended = batch.builder.append(
        timestamp=None, key=message.key, value=message.value, headers=list(message.headers)
    )
    return appended is not None


def partition_of(key: bytes | None, partitions: tuple[int, ...]) -> int:
    """The partition the Java client and aiokafka's default partitioner pick for `key`
    (murmur2), so every producer of a topic puts a key in the same place."""
    if key is None:
        return int(_PARTITIONER(None, list(partitions), list(partitions)))
    return _keyed_partition(key, partitions)


_PARTITIONER = DefaultPartitioner()


@lru_cache(maxsize=16_384)
def _keyed_partition(key: bytes, partitions: tuple[int, ...]) -> int:
    return int(_PARTITIONER(key, list(partitions), list(partitions)))
