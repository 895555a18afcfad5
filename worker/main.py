"""The worker's composition root: settings -> pool -> consumer -> loop, with signals."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

from dsync.logs import Log, describe_bug
from dsync.settings import Settings
from worker import repository as repo
from worker.batch import BatchResult, Partition, apply_batch, dead_letter_all
from worker.changes import Outcome
from worker.consumer import KafkaSource
from worker.decode import Decoded, Record, decode
from worker.errors import PermanentDbError, TransientError
from worker.store import Store

_log = Log("worker")

_MAX_BACKOFF = 30.0


class Stopped(Exception):
    """Shutdown was requested while a batch was waiting to be retried: nothing committed."""


class Worker:
    """The poll loop. It holds no business logic: decode, apply_batch, commit."""

    def __init__(self, store: Store, source: KafkaSource, settings: Settings) -> None:
        self._store = store
        self._source = source
        self._settings = settings
        self.totals: Counter[Outcome] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            polled = await self._source.poll(self._settings.worker_poll_timeout_seconds)
            if not polled:
                continue
            async with asyncio.TaskGroup() as group:
                tasks = {
                    p: group.create_task(self._partition(p, rs, stop)) for p, rs in polled.items()
                }
            results = {p: task.result() for p, task in tasks.items()}
            await self._source.commit({p: r.next_offset for p, r in results.items()})
            for result in results.values():
                self.totals.update(result.outcomes)

    async def _partition(
        self, partition: int, records: list[Record], stop: asyncio.Event
    ) -> BatchResult:
        where = Partition(self._source.group_id, self._source.topic, partition)
        items: list[Decoded] = [decode(record) for record in records]
        attempt = 0
        while True:
            try:
                result = await self._apply(where, items)
            except TransientError as exc:
                attempt += 1
                delay = min(_MAX_BACKOFF, 0.1 * 2**attempt)
                _log.warning("worker.batch_retry", partition=partition, error=str(exc), delay=delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    continue
                raise Stopped from exc
            _log.debug("worker.batch_applied", partition=partition, **dict(result.outcomes))
            return result

    async def _apply(self, where: Partition, items: list[Decoded]) -> BatchResult:
        try:
            async with self._store.transaction() as conn:
                return await apply_batch(conn, where, items)
        except PermanentDbError:
            return await self._apply_one_by_one(where, items)

    async def _apply_one_by_one(self, where: Partition, items: list[Decoded]) -> BatchResult:
        """The database refused the batch: find the event(s) it refuses and dead-letter them."""
        outcomes: Counter[Outcome] = Counter()
        next_offset = items[0].record.offset
        for item in items:
            try:
                async with self._store.transaction() as conn:
                    result = await apply_batch(conn, where, [item])
            except PermanentDbError as exc:
                async with self._store.transaction() as conn:
                    reason = f"database refused the event ({exc})"
                    result = await apply_batch(conn, where, dead_letter_all([item], reason))
            outcomes.update(result.outcomes)
            next_offset = result.next_offset
        return BatchResult(outcomes, next_offset)


async def run_worker(settings: Settings, stop: asyncio.Event) -> Worker:
    """Consume until `stop` is set; then finish the batch in hand and leave the group."""
    store = await Store.open(settings.require_database_url(), size=settings.database_pool_size)
    try:

        async def stored_offsets(topic: str) -> dict[int, int]:
            async with store.transaction() as conn:
                return await repo.stored_offsets(conn, settings.worker_group_id, topic)

        source = KafkaSource(
            settings.require_bootstrap_servers(),
            settings.events_topic,
            settings.worker_group_id,
            stored_offsets=stored_offsets,
            max_records=settings.worker_max_batch,
        )
        worker = Worker(store, source, settings)
        await source.start()
        _log.info("worker.started", topic=settings.events_topic, group=settings.worker_group_id)
        try:
            await worker.run(stop)
        except* Stopped:
            pass
        finally:
            _log.info("worker.stopping", totals=dict(worker.totals))
            await source.stop()
        return worker
    finally:
        await store.close()
        _log.info("worker.stopped")


def main(settings: Settings) -> None:
    """`dsync worker`: run until SIGINT/SIGTERM."""

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run_worker(settings, stop)
        except BaseException as exc:
            _log.error("worker.fatal", **describe_bug(exc))
            raise

    asyncio.run(serve())
