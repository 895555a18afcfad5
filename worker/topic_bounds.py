"""A topic's offsets read with a short-lived consumer outside any group (`dsync status`,
`dsync offsets`), and the end offsets any consumer can ask for. Joins no group, so the
workers' positions are untouched."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition

from dsync.kafka_clients import short_lived_consumer


async def end_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    """The end offset of every partition of `topic`, with a short-lived consumer outside
    any group (`dsync status`)."""
    async with short_lived_consumer(bootstrap_servers) as consumer:
        return await partition_ends(consumer, topic)


async def log_bounds(bootstrap_servers: str, topic: str) -> dict[int, tuple[int, int]]:
    """(start, end) offsets of every partition of `topic`, with a short-lived consumer
    outside any group (`dsync offsets`). The end is a fetch's high watermark where one
    answers within a few seconds (see worker.consumer.KafkaSource.log_bounds for why)."""
    async with short_lived_consumer(bootstrap_servers) as consumer:
        await consumer.topics()  # metadata of every topic, this one included
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        starts = await consumer.beginning_offsets(tps)
        ends = {tp: int(offset) for tp, offset in (await consumer.end_offsets(tps)).items()}
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, ends[tp])
        try:
            async with asyncio.timeout(5):
                while any(consumer.highwater(tp) is None for tp in tps):
                    await consumer.getmany(timeout_ms=200)
        except TimeoutError:
            pass  # the list-offsets answer stands where no fetch answered
        for tp in tps:
            highwater = consumer.highwater(tp)
            ends[tp] = ends[tp] if highwater is None else int(highwater)
    return {tp.partition: (int(starts[tp]), ends[tp]) for tp in tps}


async def partition_ends(consumer: Any, topic: str) -> dict[int, int]:
    """The end offset of every partition of `topic`, asked of the broker by `consumer`."""
    partitions = consumer.partitions_for_topic(topic)
    if partitions is None:
        await consumer.topics()  # metadata of every topic, this one included
        partitions = consumer.partitions_for_topic(topic) or set()
    ends = await consumer.end_offsets([TopicPartition(topic, p) for p in sorted(partitions)])
    return {tp.partition: int(offset) for tp, offset in ends.items()}
