"""The stream check: the worker side of holds (worker/holds.py), in two halves.

The watch, a background task beside the fetches, reads the stream's hold rows every
CHECK_SECONDS (one small indexed query) and asks the broker whether the stored offsets still
fit the partitions every MISMATCH_SECONDS, at once after an assignment, and every
CHECK_SECONDS while an assigned partition has not been fetched yet. It holds every
partition that does not match. It never moves a partition itself.

The steering, in the task that fetches and before it fetches, runs only when something
changed (an assignment, a hold placed, a hold row written by any worker or an operator):
it publishes the held partitions as a gauge, pauses the held partitions this worker is
assigned and resumes the released ones from the offset stored now. So the fetch path pays
nothing while nothing changes, a hold placed by any worker or released by an operator
still takes effect within about a second without a restart, and a restarted worker finds
it in PostgreSQL. What the watch finds late, the fence catches first where it matters: a
batch whose records start after the stored offset holds its partition (worker/fence.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
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

# An operator's decision is promised to take effect within about a second.
CHECK_SECONDS = 1.0
# The broker-side comparison (a metadata request and a list-offsets request) is off the
# fetch path, and what it finds is not urgent: a stream that skips offsets is held by the
# fence at its next batch; a stored offset past a recreated partition's end only makes the
# fence leave that partition's records unapplied (nothing stored) until the hold; a
# missing partition delivers nothing. Every 5 s keeps the broker's share negligible.
MISMATCH_SECONDS = 5.0


class StreamGuard:
    def __init__(
        self, store: Store, source: KafkaSource, stream: Stream, metrics: WorkerMetrics
    ) -> None:
        self._store = store
        self._source = source
        self._stream = stream
        self._metrics = metrics
        self._releases: dict[int, datetime] = {}  # the last release seen, per partition
        self._dirty = True  # the steering has something new to look at
        self._seen_rows: list[holds.HoldRow] | None = None  # as the watch last read them
        self._broker_due = 0.0  # monotonic time of the next broker-side comparison
        self._compare_soon = True  # the assignment changed: compare at the next tick
        self._wake = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Runs the watch for the duration of the block; `check` raises its failure."""
        self._watch = asyncio.create_task(self._watch_loop())
        try:
            yield
        finally:
            self._watch.cancel()
            with suppress(asyncio.CancelledError):
                await self._watch

    async def check(self) -> None:
        """Must run in the task that fetches, before it fetches: a resumed partition's
        first fetch then starts at the stored offset. Costs nothing unless something
        changed. A database that is briefly away postpones it to the next fetch."""
        if self._watch is not None and self._watch.done():
            self._watch.result()  # a bug in the watch stops the worker
        if self._source.take_changes():
            self._dirty = True
            self._compare_soon = True
            self._wake.set()
        if not self._dirty:
            return
        self._dirty = False
        try:
            await self._steer_now()
        except TransientError as exc:
            self._dirty = True
            _log.warning("worker.stream_check_failed", topic=self._stream.topic, error=str(exc))

    async def hold(self, hold: Hold) -> None:
        """Hold a partition (in a transaction of its own) and stop fetching it."""
        async with self._store.transaction() as conn:
            placed = await holds.place(conn, self._stream.group, self._stream.topic, hold)
        self._source.pause([hold.partition])
        self._dirty = True  # publish it with the next check, before a fetch
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

    async def _watch_loop(self) -> None:
        while True:
            try:
                await self._watch_once()
            except TransientError as exc:
                _log.warning("worker.stream_check_failed", topic=self._stream.topic, error=str(exc))
            with suppress(TimeoutError):
                async with asyncio.timeout(CHECK_SECONDS):
                    await self._wake.wait()
            self._wake.clear()

    async def _watch_once(self) -> None:
        group, topic = self._stream.group, self._stream.topic
        async with self._store.transaction() as conn:
            rows = await holds.rows(conn, group, topic)
        if rows != self._seen_rows:
            self._seen_rows = rows
            self._dirty = True
        if self._compare_soon or time.monotonic() >= self._broker_due:
            self._compare_soon = False
            await self._compare_with_broker()

    async def _compare_with_broker(self) -> None:
        group, topic = self._stream.group, self._stream.topic
        async with self._store.transaction() as conn:  # one snapshot
            stored = await repo.stored_offsets(conn, group, topic)
            rows = await holds.rows(conn, group, topic)
        held = {r.partition for r in rows if r.active is not None}
        found, complete = await self._mismatches(stored, held)
        for hold in found:
            await self.hold(hold)
        wait = MISMATCH_SECONDS if complete else CHECK_SECONDS
        self._broker_due = time.monotonic() + wait

    async def _mismatches(self, stored: dict[int, int], held: set[int]) -> tuple[list[Hold], bool]:
        """The holds to place, and whether every candidate could be compared (a partition
        not fetched yet has no end to compare with; a silent broker tells nothing)."""
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
        return found, existing is not None and set(bounds) == set(candidates)

    async def _steer_now(self) -> None:
        group, topic = self._stream.group, self._stream.topic
        async with self._store.transaction() as conn:  # one snapshot: a reset and its
            stored = await repo.stored_offsets(conn, group, topic)  # release commit together
            rows = await holds.rows(conn, group, topic)
        active = {r.partition: r.active for r in rows if r.active is not None}
        self._publish(active)
        await self._steer(set(active), stored, self._new_releases(rows))

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
