"""Hands verified events to Kafka and reports whether the broker acknowledged in time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dsync.logs import Log
from schemas.envelope import EventEnvelope

_log = Log("webhook_ingress.publisher")


class PublishError(Exception):
    """The broker did not acknowledge the event in time. Maps to 503."""


class Publisher(Protocol):
    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        """Return only once the broker has acknowledged every envelope (acks=all); else
        raise PublishError (some may have been stored: the sender's retry is deduplicated)."""

    async def ready(self) -> bool:
        """True when the broker answers a metadata request within the ack timeout."""

    async def close(self) -> None: ...


class KafkaPublisher:
    """An aiokafka producer that connects lazily, so the ingress starts while the broker is down."""

    def __init__(
        self, bootstrap_servers: str, topic: str, *, ack_timeout: float, idempotent: bool
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._timeout = ack_timeout
        self._idempotent = idempotent
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                producer = await self._connected()
                acks = [
                    await producer.send(
                        self._topic,
                        value=envelope.body,
                        key=envelope.partition_key(),
                        headers=envelope.headers(),
                    )
                    for envelope in envelopes
                ]
                await asyncio.gather(*acks)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise PublishError(type(exc).__name__) from exc

    async def ready(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                producer = await self._connected()
                await producer.client.fetch_all_metadata()
        except (KafkaError, OSError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None

    async def _connected(self) -> Any:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    enable_idempotence=self._idempotent,
                    request_timeout_ms=int(self._timeout * 1000),
                    linger_ms=1,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    _log.warning("broker.connect_failed", bootstrap=self._bootstrap)
                    raise
                self._producer = producer
            return self._producer
