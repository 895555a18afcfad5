"""Record -> envelope -> typed event. Pure: no I/O, no Kafka types."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.envelope import EnvelopeError, EventEnvelope, decode_envelope
from schemas.workos import (
    KNOWN_EVENT_TYPES,
    DirectoryEvent,
    GroupEvent,
    InvalidPayload,
    MembershipEvent,
    UserEvent,
    parse_event,
)

Event = UserEvent | GroupEvent | MembershipEvent | DirectoryEvent


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record, in our own terms."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Accepted:
    record: Record
    envelope: EventEnvelope
    event: Event | None  # None: a type dsync does not handle (recorded as ignored)


@dataclass(frozen=True, slots=True)
class Rejected:
    record: Record
    envelope: EventEnvelope | None
    reason: str


Decoded = Accepted | Rejected


def decode(record: Record) -> Decoded:
    try:
        envelope = decode_envelope(record.headers, record.value)
    except EnvelopeError as exc:
        return Rejected(record, None, f"invalid envelope: {exc}")
    if envelope.event_type not in KNOWN_EVENT_TYPES:
        return Accepted(record, envelope, None)
    try:
        event = parse_event(envelope.body)
    except InvalidPayload as exc:
        return Rejected(record, envelope, f"invalid {envelope.event_type} payload: {exc}")
    if event.id != envelope.event_id or event.event != envelope.event_type:
        return Rejected(record, envelope, "envelope headers do not match the body")
    if _directories(event) != {envelope.directory_id}:
        return Rejected(record, envelope, "event touches objects outside its directory")
    return Accepted(record, envelope, event)


def _directories(event: Event) -> set[str | None]:
    """Every directory id the event names; a valid event names exactly one."""
    if isinstance(event, DirectoryEvent):
        return {event.data.id}
    if isinstance(event, MembershipEvent):
        data = event.data
        return {data.directory_id, data.user.directory_id, data.group.directory_id}
    return {event.data.directory_id}
