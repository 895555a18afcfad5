"""The Kafka producer of every process (ingress, outbox relay, operator commands): `acks=all`,
connects lazily (so a process starts while the broker is down), and reports whether the
broker acknowledged every message in time.

Concurrent callers share flushes. Each `send_all` queues its messages and waits; one
flusher task takes everything queued, builds one record batch per partition, sends them,
and answers every caller when the broker has acknowledged (or not). While a flush is in
flight the next one fills up, so under load a flush carries many webhooks, and per
message there is no aiokafka future, no timer and no event-loop lookup (on Python 3.11
each of those lookups is a `getpid` system call: 12% of the ingress's CPU under B1).
How messages become record batches (partitions, order) is dsync/record_batches.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dsync.kafka_clients import close_bootstrap_on_cancel, drop_connections, never_auto_create
from dsync.logs import Log, describe_bug
from dsync.record_batches import Message, partition_of, record_batches, writable

__all__ = [
    "MAX_BATCH_BYTES",
    "METADATA_MAX_AGE_SECONDS",
    "KafkaProducer",
    "Message",
    "ProduceError",
    "Producer",
    "Readiness",
    "partition_of",
]

_log = Log("dsync.producer")

T = TypeVar("T")

# Whether messages to some topics could be stored now (see KafkaProducer.readiness).
Readiness = Literal["ready", "broker_unavailable", "topic_unavailable"]

# One record batch per partition and flush, up to this size (aiokafka's default is 16 KiB,
# about twenty webhooks); a larger flush is split into several batches.
MAX_BATCH_BYTES = 512 * 1024

# How stale the producer's view of the topics may get (aiokafka's default is 5 minutes).
# Kafka refuses a write to a deleted topic, but the embedded broker (Tansu) acknowledges
# it and keeps it nowhere readable: a deleted topic must be noticed by a refresh. One
# metadata request per interval is the cost.
METADATA_MAX_AGE_SECONDS = 10


class ProduceError(Exception):
    """The broker did not acknowledge every message in time. Some may have been stored,
    so a retry may publish them twice (at least once). The message is the error's type."""


class Producer(Protocol):
    async def send_all(self, messages: Sequence[Message]) -> None:
        """Return only once the broker acknowledged every message; else raise ProduceError.
        Messages of one partition are stored in the order given."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Call:
    """One `send_all` waiting for its flush."""

    messages: Sequence[Message]
    queued_at: float
    answer: asyncio.Future[None]


class KafkaProducer:
    """An aiokafka producer started on first use and kept; one per process."""

    def __init__(self, bootstrap_servers: str, *, ack_timeout: float, idempotent: bool) -> None:
        self._bootstrap = bootstrap_servers
        self._timeout = ack_timeout
        self._idempotent = idempotent
        self._producer: Any = None
        self._lock = asyncio.Lock()
        self._queued: list[_Call] = []
        self._wakeup = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def send_all(self, messages: Sequence[Message]) -> None:
        """Every caller waits at most about the ack timeout from its call: a flush gives
        up once its oldest caller has waited that long."""
        if not messages:
            return
        loop = self._loop
        if loop is None or self._flusher is None or self._flusher.done():
            loop = self._loop = asyncio.get_running_loop()
            # The flusher outlives the request that happens to start it.
            self._flusher = loop.create_task(self._flush_forever(), context=contextvars.Context())
        call = _Call(messages, loop.time(), loop.create_future())
        self._queued.append(call)
        self._wakeup.set()
        await call.answer

    async def readiness(self, topics: Sequence[str]) -> Readiness:
        """Whether messages to `topics` could be stored now: the broker answers a metadata
        request within the ack timeout, and each topic exists with a leader for every
        partition. Never creates a topic. The answer refreshes the metadata the flushes
        use, so a topic found missing here fails the next flush at once."""
        try:
            async with asyncio.timeout(self._timeout):
                producer = await _detached(self._connected())
                # The refresh runs in aiokafka's own metadata task.
                refreshed = await producer.client.force_metadata_update()
        except (KafkaError, OSError, TimeoutError):
            return "broker_unavailable"
        if not refreshed:
            return "broker_unavailable"
        metadata = producer.client.cluster
        ready = all(writable(metadata, topic) for topic in topics)
        return "ready" if ready else "topic_unavailable"

    async def close(self) -> None:
        """Stop the flusher (whoever still waits is told the messages may not be stored),
        then the producer, within the ack timeout: aiokafka's own stop waits for batches
        in flight as long as the broker keeps the connection open."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        queued, self._queued = self._queued, []
        _answer(queued, ProduceError("ProducerClosed"))
        async with self._lock:
            if self._producer is not None:
                producer, self._producer = self._producer, None
                try:
                    async with asyncio.timeout(self._timeout):
                        await producer.stop()
                except TimeoutError:
                    _log.warning("producer.close_timed_out", seconds=self._timeout)
                    drop_connections(producer.client)

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            calls, self._queued = self._queued, []
            if calls:
                try:
                    await self._flush(calls)
                except asyncio.CancelledError:
                    _answer(calls, ProduceError("ProducerClosed"))
                    raise

    async def _flush(self, calls: list[_Call]) -> None:
        try:
            async with asyncio.timeout_at(calls[0].queued_at + self._timeout):
                producer = await self._connected()
                batches = await record_batches(producer, [call.messages for call in calls])
                acks = [
                    await producer.send_batch(batch.builder, batch.topic, partition=batch.partition)
                    for batch in batches
                ]
                outcomes = await asyncio.gather(*acks, return_exceptions=True)
        except (KafkaError, OSError, TimeoutError) as exc:
            _answer(calls, ProduceError(type(exc).__name__))
            return
        except Exception as exc:  # a bug must not leave callers waiting forever
            _log.error("producer.flush_failed", **describe_bug(exc))
            _answer(calls, ProduceError(type(exc).__name__))
            return
        failed: dict[int, ProduceError] = {}
        for batch, outcome in zip(batches, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                failed.update(dict.fromkeys(batch.callers, ProduceError(type(outcome).__name__)))
        for index, call in enumerate(calls):
            if call.answer.done():
                continue  # the caller gave up
            error = failed.get(index)
            if error is None:
                call.answer.set_result(None)
            else:
                call.answer.set_exception(error)

    async def _connected(self) -> Any:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    enable_idempotence=self._idempotent,
                    request_timeout_ms=int(self._timeout * 1000),
                    linger_ms=0,  # the flushes are the batching
                    max_batch_size=MAX_BATCH_BYTES,
                    metadata_max_age_ms=METADATA_MAX_AGE_SECONDS * 1000,
                )
                never_auto_create(producer.client)
                close_bootstrap_on_cancel(producer.client)  # readiness cancels at its deadline
                try:
                    await _detached(producer.start())
                except BaseException:
                    await producer.stop()
                    _log.warning("broker.connect_failed", bootstrap=self._bootstrap)
                    raise
                self._producer = producer
            return self._producer


async def _detached(work: Coroutine[Any, Any, T]) -> T:
    """`work` in a task of its own with an empty context. aiokafka starts tasks (the
    sender, the metadata refresher, one reader per connection) inside whatever call first
    needs them; they outlive that call, so they must not inherit a request's log context.
    Cancelling the caller cancels the task."""
    return await asyncio.get_running_loop().create_task(work, context=contextvars.Context())


def _answer(calls: Sequence[_Call], error: ProduceError) -> None:
    for call in calls:
        if not call.answer.done():
            call.answer.set_exception(error)
