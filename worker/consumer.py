"""The Kafka edge of the worker: an aiokafka consumer that starts each assigned partition
at the offset stored in PostgreSQL, and speaks our own Record type to the rest."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from dsync.kafka_clients import close_bootstrap_on_cancel, drop_connections, never_auto_create
from dsync.logs import Log
from worker.item import Record
from worker.rebalance import OffsetLookup, SeekToStored
from worker.topic_bounds import partition_ends

_log = Log("worker.consumer")

_BROKER_TIMEOUT = 5.0  # a metadata or list-offsets request of the stream check

# aiokafka retries the group coordinator forever while the broker is away (commit), and
# leaving the group waits up to its request timeout (40 s): both are bounded here, so a
# worker whose broker died still stops. The database holds the offsets that matter.
COMMIT_TIMEOUT = 5.0
# Longer than a join the broker holds open (the embedded one: half the session timeout,
# 5 s by default): stopping during a join waits for it, then leaves cleanly. Cut short,
# aiokafka would leave its connections open.
STOP_TIMEOUT = 10.0


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
        fetch_max_wait_ms: int = 500,
        session_timeout_ms: int = 10_000,
        on_assigned: Callable[[], None] = lambda: None,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self._max_records = max_records
        self._consumer: Any = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            # A position out of the log's range restarts at its start: the fence drops
            # what was applied already, and a gap or a stored offset past the log's end
            # holds the partition (worker/fence.py, worker/guard.py), so nothing is
            # skipped silently. ("none" raced the assignment: aiokafka looks for a
            # committed offset before the listener has sought to the stored one.)
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            heartbeat_interval_ms=1000,  # joins and rebalances settle sooner
            session_timeout_ms=session_timeout_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        never_auto_create(self._consumer._client)  # the topic is `dsync topics`'s to create
        close_bootstrap_on_cancel(self._consumer._client)  # a stop cancels a join
        # Next offset to apply per assigned partition, for the lag: from PostgreSQL on
        # assignment, then from each applied batch.
        self._positions: dict[int, int] = {}
        # Bumped whenever a partition's position is moved (assignment, resume, rewind):
        # records fetched before are stale (`fresh`).
        self._epochs: Counter[int] = Counter()
        self._changed = True  # the assignment changed since the last stream check
        self._joined = False
        self._listener = SeekToStored(self, stored_offsets, on_assigned)

    async def start(self, stop: asyncio.Event) -> None:
        """Connect and join the group (aiokafka's start waits for the first assignment,
        seconds on some brokers); abandoned as soon as `stop` is set."""
        self._consumer.subscribe([self.topic], listener=self._listener)
        joining = asyncio.create_task(self._consumer.start())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({joining, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not joining.done():
                joining.cancel()
                await asyncio.wait({joining})
        if not joining.cancelled():
            joining.result()  # its error, if it failed
            self._joined = True

    async def poll(self, wait: float) -> tuple[dict[int, int], dict[int, list[Record]]]:
        """Records by partition, each list in offset order, and the epochs they were
        fetched in (for `fresh`)."""
        fetched = await self._consumer.getmany(
            timeout_ms=int(wait * 1000), max_records=self._max_records
        )
        # Taken as the records are drained (no await in between): a position moved after
        # this (a resume, a reset, an assignment) makes them stale, and that move has set
        # the position again, so they are read again. Taken before the fetch, a seek
        # during it (a rebalance) would drop records fetched after it, which nothing
        # fetches again.
        epochs = dict(self._epochs)
        return epochs, {
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

    def fresh(self, epochs: Mapping[int, int], partition: int) -> bool:
        """Whether records fetched in `epochs` still follow the partition's position."""
        return epochs.get(partition, 0) == self._epochs[partition]

    def take_changes(self) -> bool:
        """Whether the assignment changed since last asked."""
        changed, self._changed = self._changed, False
        return changed

    def assigned(self) -> set[int]:
        return {tp.partition for tp in self._consumer.assignment() if tp.topic == self.topic}

    def paused(self) -> set[int]:
        return {tp.partition for tp in self._consumer.paused() if tp.topic == self.topic}

    def pause(self, partitions: Iterable[int]) -> None:
        """Fetch nothing more of these partitions (the group membership stays)."""
        tps = [TopicPartition(self.topic, p) for p in partitions]
        if tps:
            self._consumer.pause(*tps)

    async def resume_at(self, offsets: Mapping[int, int]) -> None:
        """Fetch these assigned partitions again from the given offsets (-1: the log's
        start); what was fetched before is stale."""
        for partition, offset in offsets.items():
            await self._seek(partition, offset)
            self._consumer.resume(TopicPartition(self.topic, partition))

    def forget(self, partitions: Iterable[int]) -> None:
        """Revoked partitions: their lag is another worker's to report."""
        for partition in partitions:
            self._positions.pop(partition, None)

    async def start_at(self, offsets: Mapping[int, int]) -> None:
        """A new assignment: each partition from its offset (-1: the log's start)."""
        self._positions.clear()
        self._changed = True  # the stream check runs before the next fetch
        for partition, offset in offsets.items():
            await self._seek(partition, offset)

    async def _seek(self, partition: int, offset: int) -> None:
        tp = TopicPartition(self.topic, partition)
        if offset >= 0:
            self._consumer.seek(tp, offset)
            self._positions[partition] = offset
        else:
            await self._consumer.seek_to_beginning(tp)
        self._epochs[partition] += 1

    async def log_bounds(self, partitions: Iterable[int]) -> dict[int, tuple[int, int]]:
        """(start, end) offsets of those of these partitions that are being fetched, empty
        when the broker does not answer (nothing can be concluded then). The end is the
        high watermark of the partition's last fetch, not a list-offsets answer: the
        embedded broker (Tansu) answers "latest" with the last batch's base offset + 1, which
        would put a caught-up worker past the end. A paused partition's is stale: left out."""
        paused = self.paused()
        ends: dict[int, int] = {}
        for partition in partitions:
            highwater = self._consumer.highwater(TopicPartition(self.topic, partition))
            if highwater is not None and partition not in paused:
                ends[partition] = int(highwater)
        tps = [TopicPartition(self.topic, p) for p in sorted(ends)]
        if not tps:
            return {}
        try:
            async with asyncio.timeout(_BROKER_TIMEOUT):
                starts = await self._consumer.beginning_offsets(tps)
        except (KafkaError, TimeoutError):
            return {}
        return {tp.partition: (int(starts[tp]), ends[tp.partition]) for tp in tps}

    async def topic_partitions(self) -> set[int] | None:
        """The topic's partitions in fresh metadata (empty: the topic does not exist);
        None when the broker does not answer."""
        try:
            async with asyncio.timeout(_BROKER_TIMEOUT):
                # A full metadata request: unlike one for the topic alone, it never makes
                # a broker with auto-creation create the topic.
                cluster = await self._consumer._client.fetch_all_metadata()
        except (KafkaError, TimeoutError):
            return None
        return set(cluster.partitions_for_topic(self.topic) or ())

    async def commit(self, next_offsets: Mapping[int, int]) -> None:
        """Tell Kafka how far we got, for lag tools. PostgreSQL stays the truth, so a
        failure here (say, during a rebalance) is logged and harmless."""
        if not next_offsets:
            return
        offsets = {TopicPartition(self.topic, p): o for p, o in next_offsets.items()}
        try:
            async with asyncio.timeout(COMMIT_TIMEOUT):
                await self._consumer.commit(offsets)
        except (KafkaError, TimeoutError) as exc:
            _log.warning("worker.commit_failed", error=type(exc).__name__)

    def lag(self, next_offsets: Mapping[int, int]) -> dict[int, int]:
        """Records between each assigned partition's end (its highwater mark as of the
        last fetch, so no request is made) and the next offset to apply; `next_offsets`:
        of the batches just applied. Partitions not fetched yet are left out."""
        assigned = self.assigned()
        self._positions.update((p, o) for p, o in next_offsets.items() if p in assigned)
        lag: dict[int, int] = {}
        for partition, next_offset in self._positions.items():
            if partition not in assigned:
                continue  # revoked; the listener forgets it
            highwater = self._consumer.highwater(TopicPartition(self.topic, partition))
            if highwater is not None:
                lag[partition] = max(highwater - next_offset, 0)
        return lag

    async def end_offsets(self) -> dict[int, int]:
        """The end offset of every partition of the topic, asked of the broker."""
        return await partition_ends(self._consumer, self.topic)

    async def stop(self) -> None:
        """Leave the group, within STOP_TIMEOUT. Safe to call when the broker is gone."""
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await self._consumer.stop()
        except TimeoutError:
            # Only a member that held partitions keeps others waiting (its session must
            # expire first); a join abandoned at shutdown is routine.
            log = _log.warning if self._joined else _log.info
            log("worker.leave_timed_out", seconds=STOP_TIMEOUT)
            drop_connections(self._consumer._client)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # aiokafka's fetcher re-raises the cancellation of its own in-flight fetch on
            # close when the broker is unreachable; the consumer is stopped regardless.
