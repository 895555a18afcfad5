"""The worker's composition root: settings -> pool -> consumer -> loop, with signals."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from dsync import eventloop
from dsync.logs import Log, describe_bug
from dsync.metrics import WorkerMetrics
from dsync.producer import KafkaProducer
from dsync.settings import Settings
from worker import diagnostics
from worker import repository as repo
from worker.admin import Diagnostics, admin_server, wait_started
from worker.ahead import read_ahead
from worker.batch import Stream
from worker.consumer import KafkaSource
from worker.decode import decode
from worker.guard import StreamGuard
from worker.item import Decoded, Outcome
from worker.live_sync import LiveSync, Stopped
from worker.outbox import Relay
from worker.store import Store

_log = Log("worker")

_DECODE_SLICE = 256  # records decoded between yields to the event loop


@dataclass(frozen=True, slots=True)
class Poll:
    epochs: dict[int, int]  # the partitions' epochs when fetched (KafkaSource.fresh)
    batches: dict[int, list[Decoded]]


class Worker:
    """The poll loop. It holds no business logic: fetch and decode, apply (worker/live_sync.py),
    commit to Kafka."""

    def __init__(
        self,
        store: Store,
        source: KafkaSource,
        settings: Settings,
        metrics: WorkerMetrics,
        *,
        after_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._source = source
        self._settings = settings
        self._metrics = metrics
        self._after_commit = after_commit  # must not block: pokes the outbox relay
        stream = Stream(source.group_id, source.topic)
        self._guard = StreamGuard(store, source, stream, metrics)
        self._live_sync = LiveSync(store, stream, settings, metrics, self._guard.hold)
        self.totals: Counter[Outcome] = Counter()

    @property
    def metrics(self) -> WorkerMetrics:
        return self._metrics

    @property
    def refused_batch_transactions(self) -> int:
        """Transactions spent finding the events the database refuses."""
        return self._live_sync.refused_batch_transactions

    async def run(self, stop: asyncio.Event) -> None:
        structlog.contextvars.bind_contextvars(topic=self._source.topic)
        # The next poll is fetched and decoded while the database works on the one in hand
        # (decoding is a fifth of the worker's CPU). Records fetched but not applied when
        # the loop ends are read again from the offsets stored in PostgreSQL.
        async with self._guard.watching(), aclosing(read_ahead(self._polls())) as polls:
            while not stop.is_set():
                polled = await anext(polls)
                # A partition moved (resumed, rewound, reassigned) after this poll was
                # fetched is read again from its new position.
                batches = {
                    p: items
                    for p, items in polled.batches.items()
                    if self._source.fresh(polled.epochs, p)
                }
                if not batches:
                    self._observe_lag({})
                    continue
                result = await self._live_sync.apply(batches, stop)
                await self._source.commit(result.next_offsets)
                self._after_commit()
                self._observe_lag(result.next_offsets)
                self.totals.update(result.outcomes)

    async def _polls(self) -> AsyncGenerator[Poll, None]:
        while True:
            yield await self._poll()

    async def _poll(self) -> Poll:
        await self._guard.check()  # here: between fetches, in the task that fetches
        epochs, polled = await self._source.poll(self._settings.worker_poll_timeout_seconds)
        batches: dict[int, list[Decoded]] = {}
        decoded = 0
        for partition, records in polled.items():
            batches[partition] = []
            for record in records:
                batches[partition].append(decode(record))
                decoded += 1
                if decoded % _DECODE_SLICE == 0:
                    await asyncio.sleep(0)  # let the batch in hand take its database replies
        return Poll(epochs, batches)

    def _observe_lag(self, next_offsets: dict[int, int]) -> None:
        """Only the partitions assigned now: a revoked one is another worker's to report.
        No await between clear and set, so a scrape never sees the gauge half-filled."""
        gauge = self._metrics.consumer_lag
        gauge.clear()
        for partition, lag in self._source.lag(next_offsets).items():
            gauge.labels(str(partition)).set(lag)


async def run_worker(
    settings: Settings, stop: asyncio.Event, *, ready: asyncio.Event | None = None
) -> Worker:
    """Consume until `stop` is set; then finish the batch in hand and leave the group.
    `ready` is set once the worker holds partitions (`dsync dev` waits for it)."""
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
            fetch_max_wait_ms=settings.worker_fetch_max_wait_ms,
            session_timeout_ms=settings.worker_session_timeout_ms,
            on_assigned=ready.set if ready is not None else lambda: None,
        )
        metrics = WorkerMetrics()
        producer = KafkaProducer(
            settings.require_bootstrap_servers(),
            ack_timeout=settings.broker_ack_timeout_seconds,
            idempotent=settings.kafka_idempotent_producer,
        )
        relay = Relay(store, producer, settings, metrics.outbox_pending.set)
        worker = Worker(store, source, settings, metrics, after_commit=relay.poke)
        admin = admin_server(settings, metrics, _diagnostics(store, source, settings))
        serving = asyncio.create_task(admin.serve()) if admin else None
        if admin is not None and serving is not None:
            await wait_started(admin, serving)
        await source.start(stop)
        _log.info("worker.started", topic=settings.events_topic, group=settings.worker_group_id)
        try:
            await _consume(worker, relay, stop)
        except* Stopped:
            pass
        finally:
            _log.info("worker.stopping", totals=dict(worker.totals))
            await source.stop()
            await producer.close()
            if admin is not None and serving is not None:
                admin.should_exit = True
                await serving
        return worker
    finally:
        await store.close()
        _log.info("worker.stopped")


async def _consume(worker: Worker, relay: Relay, stop: asyncio.Event) -> None:
    """The poll loop and the outbox relay side by side; a bug in either stops both."""
    async with asyncio.TaskGroup() as group:
        group.create_task(relay.run(stop))
        await worker.run(stop)
        relay.poke()  # `stop` is set: one last relay pass, then the relay ends


def _diagnostics(store: Store, source: KafkaSource, settings: Settings) -> Diagnostics:
    """`GET /diagnostics`: what `dsync status --json` prints, end offsets from our consumer."""

    async def read() -> dict[str, Any]:
        now = datetime.now(UTC)
        return (await diagnostics.collect(store, source.end_offsets, settings, now)).to_json()

    return read


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

    eventloop.run(serve())
