"""What a worker does when its group hands it partitions or takes them away: each assigned
partition starts at the offset stored in PostgreSQL (the truth, not Kafka's committed
offset), and `on_assigned` is told the join is done."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiokafka import ConsumerRebalanceListener, TopicPartition

from dsync.logs import Log

if TYPE_CHECKING:
    from worker.consumer import KafkaSource

_log = Log("worker.consumer")

OffsetLookup = Callable[[str], Awaitable[dict[int, int]]]  # topic -> partition -> next offset


class SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self, source: KafkaSource, stored_offsets: OffsetLookup, on_assigned: Callable[[], None]
    ) -> None:
        self._source = source
        self._stored_offsets = stored_offsets
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._source.forget(tp.partition for tp in revoked)
        _log.info("worker.partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        topic = self._source.topic
        stored = await self._stored_offsets(topic)
        await self._source.start_at({tp.partition: stored.get(tp.partition, -1) for tp in assigned})
        _log.info(
            "worker.partitions_assigned",
            partitions=sorted(tp.partition for tp in assigned),
            resumed_from={p: o for p, o in stored.items() if TopicPartition(topic, p) in assigned},
        )
        self._on_assigned()  # even none: the join is done, whatever this member holds
