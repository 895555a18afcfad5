"""The reconciliation's own events, for any provider: `dsync.reconcile.vanished` -> a
Vanished command, `dsync.reconcile.membership` -> a MembershipById. Its upserts are shaped
as the provider's own events and go to the provider's mapper. Pure."""

from __future__ import annotations

from schemas.envelope import EventEnvelope
from schemas.errors import InvalidPayload
from schemas.reconcile import MEMBERSHIP, VANISHED, parse_membership, parse_vanished
from worker.commands import Command, MembershipById, Vanished

EVENT_TYPES = frozenset({VANISHED, MEMBERSHIP})


def corrections(envelope: EventEnvelope) -> list[Command]:
    if envelope.event_type == MEMBERSHIP:
        return _membership(envelope)
    body = parse_vanished(envelope.body)
    if body.directory_id != envelope.directory_id:
        raise InvalidPayload("envelope headers do not match the body")
    return [
        Vanished(
            kind=body.kind,
            provider=envelope.source,
            directory_id=body.directory_id,
            id=body.id,
            unchanged_since=body.unchanged_since,
            gone_at=body.gone_at,
        )
    ]


def _membership(envelope: EventEnvelope) -> list[Command]:
    body = parse_membership(envelope.body)
    if body.directory_id != envelope.directory_id:
        raise InvalidPayload("envelope headers do not match the body")
    return [
        MembershipById(
            provider=envelope.source,
            group_id=body.group_id,
            user_id=body.user_id,
            present=body.present,
            at=body.at,
            directory_id=body.directory_id,
        )
    ]
