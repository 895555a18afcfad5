"""The Kafka producer of every process (ingress, outbox relay, operator commands): `acks=all`,
connects lazily (so a process starts while the broker is down), and reports whether the
broker acknowledged every message in time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dsync.logs import Log

_log = Log("dsync.producer")


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


class ProduceError(Exception):
    """The broker did not acknowledge every message in time. Some may have been stored,
    so a retry may publish them twice (at least once). The message is the error's type."""


class Producer(Protocol):
    async def send_all(self, messages: Sequence[Message]) -> None:
        """Return only once the broker acknowledged every message; else raise ProduceError.
        Messages of one partition are stored in the order given."""

    async def close(self) -> None: ...


class KafkaProducer:
    """An aiokafka producer started on first use and kept; one per process."""

    def __init__(self, bootstrap_servers: str, *, ack_timeout: float, idempotent: bool) -> None:
        self._bootstrap = bootstrap_servers
        self._timeout = ack_timeout
        self._idempotent = idempotent
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def send_all(self, messages: Sequence[Message]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                producer = await self._connected()
                acks = [
                    await producer.send(m.topic, value=m.value, key=m.key, headers=list(m.headers))
                    for m in messages
                ]
                await asyncio.gather(*acks)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise ProduceError(type(exc).__name__) from exc

    async def ready(self) -> bool:
        """True when the broker answers a metadata request within the ack timeout."""
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
                producer, self._producer = self._producer, None
                await producer.stop()

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
