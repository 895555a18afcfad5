"""Record -> envelope -> provider-neutral commands: the item (worker/item.py) the chain
applies. Pure: no I/O, no Kafka types."""

from __future__ import annotations

from schemas.envelope import EnvelopeError, EventEnvelope, decode_envelope
from schemas.errors import InvalidPayload
from schemas.storable import first_unstorable, may_hold_unstorable
from worker.commands import Command
from worker.item import Accepted, Record, Rejected
from worker.item import Decoded as Decoded  # worker/fence.py reads the type from here
from worker.mappers import MAPPERS


def decode(record: Record) -> Decoded:
    try:
        envelope = decode_envelope(record.headers, record.value)
    except EnvelopeError as exc:
        return Rejected(record, None, f"invalid envelope: {exc}")
    try:
        commands = MAPPERS[envelope.source](envelope)
    except InvalidPayload as exc:
        return Rejected(record, envelope, f"invalid {envelope.event_type} payload: {exc}")
    problem = _unstorable(envelope, commands)
    if problem is not None:
        return Rejected(record, envelope, f"invalid {envelope.event_type} payload: {problem}")
    return Accepted(record, envelope, commands)


def _unstorable(envelope: EventEnvelope, commands: list[Command] | None) -> str | None:
    """Payload text PostgreSQL cannot hold (a name or an id with NUL), which the ingress
    does not look for: refused here with its place, or it would fail the batch's writes.
    Only what is written is checked (the commands), and only when the body can hold it."""
    if not commands or not may_hold_unstorable(envelope.body):
        return None
    for command in commands:
        problem = first_unstorable(command, type(command).__name__)
        if problem is not None:
            return f"{problem}, which PostgreSQL text cannot store"
    return None
