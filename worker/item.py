"""The one item that flows through the worker's chain of steps (worker/chain.py): a consumed
record, what decoding made of it (`Accepted` or `Rejected`), and what the batch did with it
(`outcome`, and `reason` when it was dead-lettered).

Everything else the worker says about an event is a view of its item, never a hand copy:
the latency budget and the metrics read the item itself (`provider`, `event_type`,
`received_at`, ...: worker.latency_budget.Timed), the event-id inbox row and the dead
letter are projections (`inbox_row`, `dead_letter`). No Kafka types here.

An item is settled again by every transaction that applies it (a refused batch is retried
in parts, a batch over the dead-letter cap without its held partitions): each run of the
chain gives every item it lets in an outcome, so an outcome never outlives its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.envelope import EventEnvelope
from worker.commands import Command
from worker.rows import AppliedEvent, DeadLetter

Outcome = Literal["applied", "duplicate", "stale", "ignored", "dead_lettered"]


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record, in our own terms."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


@dataclass(slots=True, eq=False)
class Item:
    """A record on its way through the chain; `Accepted` or `Rejected` by decoding."""

    record: Record
    envelope: EventEnvelope | None
    outcome: Outcome | None = field(default=None, init=False)  # set by the chain's steps
    reason: str | None = field(default=None, init=False)  # why it was dead-lettered

    def settle(self, outcome: Outcome, reason: str | None = None) -> None:
        """What this run of the chain did with the item (`reason`: a dead letter's)."""
        self.outcome = outcome
        self.reason = reason

    def refused(self, reason: str) -> Rejected:
        """The same record as a rejection, for when the database refuses it."""
        return Rejected(self.record, self.envelope, reason)

    @property
    def provider(self) -> str | None:
        return self.envelope.source if self.envelope else None

    @property
    def event_type(self) -> str | None:
        return self.envelope.event_type if self.envelope else None

    @property
    def event_id(self) -> str | None:
        return self.envelope.event_id if self.envelope else None

    @property
    def directory_id(self) -> str | None:
        return self.envelope.directory_id if self.envelope else None

    @property
    def received_at(self) -> datetime | None:
        return self.envelope.received_at if self.envelope else None

    @property
    def occurred_at(self) -> datetime | None:
        return self.envelope.occurred_at if self.envelope else None

    def dead_letter(self) -> DeadLetter:
        """The dead letter of a dead-lettered item: where it was read, why, and the
        record's exact headers and body."""
        record = self.record
        return DeadLetter(
            source=self.provider,
            event_id=self.event_id,
            event_type=self.event_type,
            directory_id=self.directory_id,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=self.reason or "",
            headers=record.headers,
            body=record.value,
        )


@dataclass(slots=True, eq=False)
class Accepted(Item):
    envelope: EventEnvelope
    commands: list[Command] | None  # None: a type dsync does not use (recorded as ignored)

    @property
    def directory(self) -> tuple[str, str]:
        """The (provider, directory id) the event belongs to, as the ingress routed it."""
        return self.envelope.source, self.envelope.directory_id or ""

    @property
    def inbox_key(self) -> tuple[str, str]:
        """(source, event id): what the event-id inbox knows an event by."""
        return self.envelope.source, self.envelope.event_id

    def inbox_row(self) -> AppliedEvent:
        """The event's row in the event-id inbox (a settled item that was not refused)."""
        envelope, record = self.envelope, self.record
        return AppliedEvent(
            source=envelope.source,
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            directory_id=envelope.directory_id,
            outcome=self.outcome or "",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            received_at=envelope.received_at,
            occurred_at=envelope.occurred_at,
        )


@dataclass(slots=True, eq=False)
class Rejected(Item):
    reason: str  # why decoding refused it; it is dead-lettered for this reason


Decoded = Accepted | Rejected
