"""The Kafka edge of the worker: an aiokafka consumer that starts each assigned partition
at the offset stored in PostgreSQL, and speaks our own Record type to the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from dsync.logs import Log
from worker.decode import Record

_log = Log("worker.consumer")

OffsetLookup = Callable[[str], Awaitable[dict[int, int]]]


class KafkaSource:
    """Consumes one topic as part of a group. Never auto-commits."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        *,
        stored_offsets: OffsetLookup,
        max_records: int,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self._max_records = max_records
        self._consumer: Any = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            heartbeat_interval_ms=1000,  # joins and rebalances settle sooner
        )
        self._listener = _SeekToStored(self._consumer, topic, stored_offsets)

    async def start(self) -> None:
        self._consumer.subscribe([self.topic], listener=self._listener)
        await self._consumer.start()

    async def poll(self, wait: float) -> dict[int, list[Record]]:
        """Records by partition, each list in offset order."""
        fetched = await self._consumer.getmany(
            timeout_ms=int(wait * 1000), max_records=self._max_records
        )
        return {
            tp.partition: [
                Record(
                    topic=m.topic,
                    partition=m.partition,
                    offset=m.offset,
                    value=m.value,
                    headers=tuple(m.headers or ()),
                )
                for m in messages
            ]
            for tp, messages in fetched.items()
            if messages
        }

    async def commit(self, next_offsets: Mapping[int, int]) -> None:
        """Tell Kafka how far we got, for lag tools. PostgreSQL stays the truth, so a
        failure here (say, during a rebalance) is logged and harmless."""
        if not next_offsets:
            return
        offsets = {TopicPartition(self.topic, p): o for p, o in next_offsets.items()}
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            _log.warning("worker.commit_failed", error=type(exc).__name__)

    async def stop(self) -> None:
        """Leave the group. Safe to call when the broker is gone."""
        try:
            await self._consumer.stop()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # aiokafka's fetcher re-raises the cancellation of its own in-flight fetch on
            # close when the broker is unreachable; the consumer is stopped regardless.


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: Any, topic: str, stored_offsets: OffsetLookup) -> None:
        self._consumer = consumer
        self._topic = topic
        self._stored_offsets = stored_offsets

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        _log.info("worker.partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        stored = await self._stored_offsets(self._topic)
        for tp in assigned:
            if tp.partition in stored:
                self._consumer.seek(tp, stored[tp.partition])
            else:
                await self._consumer.seek_to_beginning(tp)
        _log.info(
            "worker.partitions_assigned",
            partitions=sorted(tp.partition for tp in assigned),
            resumed_from={
                p: o for p, o in stored.items() if TopicPartition(self._topic, p) in assigned
            },
        )
