"""The internal event envelope carried on the events topic (version 1).

The Kafka record value is the provider's verified body, byte for byte; the envelope
fields travel as record headers so an operator can read and replay the topic with any
Kafka tool. The record key is the directory id, so one directory's events share a
partition and keep their arrival order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas.base import StrictModel, UtcDatetime
from schemas.errors import InvalidPayload, describe_validation_error
from schemas.providers import SOURCES as SOURCES  # re-exported: where users looked for them
from schemas.providers import Source as Source
from schemas.routed import Routed
from schemas.storable import EventType as EventType
from schemas.storable import Id as Id

ENVELOPE_VERSION = 1

H_VERSION = "dsync-envelope"
H_SOURCE = "dsync-source"
H_EVENT_ID = "dsync-event-id"
H_EVENT_TYPE = "dsync-event-type"
H_DIRECTORY_ID = "dsync-directory-id"
H_RECEIVED_AT = "dsync-received-at"
H_OCCURRED_AT = "dsync-occurred-at"


class EventEnvelope(StrictModel):
    """One verified provider event, as the ingress hands it to the worker."""

    source: Source
    event_id: Id
    event_type: EventType
    directory_id: Id | None
    received_at: UtcDatetime
    body: bytes
    # When the provider's body has no event time (Polis), the ingress's best knowledge of it.
    occurred_at: UtcDatetime | None = None
    # The record key, when it must not be the directory (it is not carried as a header).
    key: Id | None = None

    def partition_key(self) -> bytes:
        """What keeps related events in one partition, in order: `key` when set, else the
        directory id, else the event id (ordering does not matter then)."""
        return (self.key or self.directory_id or self.event_id).encode()

    def headers(self) -> list[tuple[str, bytes]]:
        pairs = [
            (H_VERSION, str(ENVELOPE_VERSION).encode()),
            (H_SOURCE, self.source.encode()),
            (H_EVENT_ID, self.event_id.encode()),
            (H_EVENT_TYPE, self.event_type.encode()),
            (H_RECEIVED_AT, self.received_at.isoformat().encode()),
        ]
        if self.directory_id is not None:
            pairs.append((H_DIRECTORY_ID, self.directory_id.encode()))
        if self.occurred_at is not None:
            pairs.append((H_OCCURRED_AT, self.occurred_at.isoformat().encode()))
        return pairs


def to_envelopes(
    source: Source, events: Sequence[Routed], received_at: datetime
) -> list[EventEnvelope]:
    """The envelopes of a provider's routed events, as every producer must build them.

    Raises InvalidPayload for what no envelope can carry: an id or type that PostgreSQL
    text cannot hold (NUL, a lone surrogate) or that is too long. Such an event can never
    be applied, so a producer must refuse it (the ingress: 400), not retry it for days."""
    built = []
    for index, routed in enumerate(events):
        try:
            envelope = EventEnvelope(
                source=source,
                event_id=routed.event_id,
                event_type=routed.event_type,
                directory_id=routed.directory_id,
                received_at=received_at,
                body=routed.body,
                occurred_at=routed.occurred_at,
                key=routed.key,
            )
        except ValidationError as exc:
            where = f"event {index}: " if len(events) > 1 else ""
            raise InvalidPayload(where + describe_validation_error(exc)) from exc
        built.append(envelope)
    return built


class EnvelopeError(Exception):
    """A record on the events topic is not a valid version-1 envelope."""


def decode_envelope(headers: Sequence[tuple[str, bytes]], value: bytes | None) -> EventEnvelope:
    """Rebuild the envelope from a record; raises EnvelopeError with a reason on garbage."""
    fields: dict[str, str] = {}
    try:
        for name, raw in headers:
            fields[name] = raw.decode()
    except UnicodeDecodeError as exc:
        raise EnvelopeError("record header is not UTF-8") from exc
    version = fields.get(H_VERSION)
    if version != str(ENVELOPE_VERSION):
        raise EnvelopeError(f"unsupported envelope version {version!r}")
    if value is None:
        raise EnvelopeError("record has no value")
    try:
        return EventEnvelope.model_validate(
            {
                "source": fields.get(H_SOURCE),
                "event_id": fields.get(H_EVENT_ID),
                "event_type": fields.get(H_EVENT_TYPE),
                "directory_id": fields.get(H_DIRECTORY_ID),
                "received_at": _parse_time(fields.get(H_RECEIVED_AT)),
                "body": value,
                "occurred_at": _parse_time(fields.get(H_OCCURRED_AT)),
            }
        )
    except ValidationError as exc:
        raise EnvelopeError(describe_validation_error(exc)) from exc


def _parse_time(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw).astimezone(UTC)
    except ValueError:
        return None
