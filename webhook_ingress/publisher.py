"""Hands verified events to Kafka and reports whether the broker acknowledged in time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dsync.producer import KafkaProducer, Message, ProduceError, Readiness
from schemas.envelope import EventEnvelope


class PublishError(Exception):
    """The broker did not acknowledge the event in time. Maps to 503."""


class Publisher(Protocol):
    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        """Return only once the broker has acknowledged every envelope (acks=all); else
        raise PublishError (some may have been stored: the sender's retry is deduplicated)."""

    async def readiness(self) -> Readiness:
        """Whether an event could be stored now ("ready"): the broker answers within the
        ack timeout and the events topic exists with a leader for every partition."""

    async def close(self) -> None: ...


class KafkaPublisher:
    """Envelopes as records of the events topic: the provider's bytes as the value, the
    envelope in headers, keyed by directory (see EventEnvelope.partition_key)."""

    def __init__(
        self, bootstrap_servers: str, topic: str, *, ack_timeout: float, idempotent: bool
    ) -> None:
        self._topic = topic
        self._producer = KafkaProducer(
            bootstrap_servers, ack_timeout=ack_timeout, idempotent=idempotent
        )

    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        messages = [
            Message(self._topic, e.partition_key(), e.body, tuple(e.headers())) for e in envelopes
        ]
        try:
            await self._producer.send_all(messages)
        except ProduceError as exc:
            raise PublishError(str(exc)) from exc

    async def readiness(self) -> Readiness:
        return await self._producer.readiness([self._topic])

    async def close(self) -> None:
        await self._producer.close()
