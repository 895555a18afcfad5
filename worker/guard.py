"""The stream check: the worker side of holds (worker/holds.py).

Before a fetch (at most every CHECK_SECONDS, and at once after an assignment) it compares
the offsets stored in PostgreSQL with the partitions the broker has, holds every partition
that does not match, publishes the held partitions as a gauge, pauses the held partitions
this worker is assigned and resumes the released ones from the offset stored now. So a
hold placed by any worker, or released by an operator, takes effect without a restart, and
a restarted worker finds it in PostgreSQL.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

from dsync.logs import Log
from dsync.metrics import WorkerMetrics
from worker import holds
from worker import repository as repo
from worker.batch import Stream
from worker.consumer import KafkaSource
from worker.errors import TransientError
from worker.holds import HOLD_REASONS, Hold
from worker.store import Store

_log = Log("worker.guard")

CHECK_SECONDS = 1.0


class StreamGuard:
    def __init__(
        self, store: Store, source: KafkaSource, stream: Stream, metrics: WorkerMetrics
    ) -> None:
        self._store = store
        self._source = source
        self._stream = stream
        self._metrics = metrics
        self._checked_at = -CHECK_SECONDS
        self._releases: dict[int, datetime] = {}  # the last release seen, per partition

    async def check(self) -> None:
        """Must run in the task that fetches, before it fetches: a resumed partition's
        first fetch then starts at the stored offset. A database that is briefly away
        postpones the check (the batches retry on their own); it never stops the worker."""
        changed = self._source.take_changes()
        if not changed and time.monotonic() - self._checked_at < CHECK_SECONDS:
            return
        self._checked_at = time.monotonic()
        try:
            await self._check()
        except TransientError as exc:
            _log.warning("worker.stream_check_failed", topic=self._stream.topic, error=str(exc))

    async def _check(self) -> None:
        group, topic = self._stream.group, self._stream.topic
        async with self._store.transaction() as conn:  # one snapshot: a reset and its
            stored = await repo.stored_offsets(conn, group, topic)  # release commit together
            rows = await holds.rows(conn, group, topic)
        active = {r.partition: r.active for r in rows if r.active is not None}
        for hold in await self._mismatches(stored, set(active)):
            await self.hold(hold)
            active[hold.partition] = hold
        self._publish(active)
        await self._steer(set(active), stored, self._new_releases(rows))

    async def hold(self, hold: Hold) -> None:
        """Hold a partition (in a transaction of its own) and stop fetching it."""
        async with self._store.transaction() as conn:
            placed = await holds.place(conn, self._stream.group, self._stream.topic, hold)
        self._source.pause([hold.partition])
        self._checked_at = -CHECK_SECONDS  # publish it with the next check, before a fetch
        if placed:
            _log.error(
                "worker.partition_held",
                reason=hold.reason,
                topic=self._stream.topic,
                partition=hold.partition,
                stored_offset=hold.stored_offset,
                log_start=hold.log_start,
                log_end=hold.log_end,
                **hold.detail,
            )

    async def _mismatches(self, stored: dict[int, int], held: set[int]) -> list[Hold]:
        existing = await self._source.topic_partitions()
        found: list[Hold] = []
        if existing is not None:
            found += [
                Hold(p, "partition_missing", offset)
                for p, offset in sorted(stored.items())
                if p not in existing and p not in held
            ]
        skip = held | {hold.partition for hold in found}
        candidates = sorted(p for p in self._source.assigned() if p in stored and p not in skip)
        bounds = await self._source.log_bounds(candidates)
        for partition, (start, end) in sorted(bounds.items()):
            hold = holds.mismatch(partition, stored[partition], start, end)
            if hold is not None:
                found.append(hold)
        return found

    def _publish(self, active: dict[int, Hold]) -> None:
        """All workers publish the whole stream's holds: take max, not sum."""
        counts = Counter(hold.reason for hold in active.values())
        for reason in HOLD_REASONS:
            self._metrics.held_partitions.labels(reason).set(counts[reason])

    def _new_releases(self, rows: list[holds.HoldRow]) -> set[int]:
        """Partitions released (or reset) since the last check."""
        new = set()
        for row in rows:
            if row.released_at is not None and self._releases.get(row.partition) != row.released_at:
                self._releases[row.partition] = row.released_at
                new.add(row.partition)
        return new

    async def _steer(self, held: set[int], stored: dict[int, int], releases: set[int]) -> None:
        """Pause what is held; resume what was released or reset, from the offset stored
        now (a reset moves a partition that was not even paused)."""
        assigned = self._source.assigned()
        paused = self._source.paused()
        self._source.pause(sorted((assigned & held) - paused))
        released = sorted(((paused | releases) - held) & assigned)
        if not released:
            return
        offsets = {p: stored.get(p, -1) for p in released}
        await self._source.resume_at(offsets)
        for partition in released:
            _log.info(
                "worker.partition_resumed",
                topic=self._stream.topic,
                partition=partition,
                stored_offset=offsets[partition],
            )
