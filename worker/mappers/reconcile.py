"""The reconciliation's own event (`dsync.reconcile.vanished`) -> a Vanished command, for
any provider. Its other corrective events are shaped as the provider's own and go to the
provider's mapper. Pure."""

from __future__ import annotations

from schemas.envelope import EventEnvelope
from schemas.errors import InvalidPayload
from schemas.reconcile import VANISHED, parse_vanished
from worker.commands import Command, Vanished

EVENT_TYPES = frozenset({VANISHED})


def commands(envelope: EventEnvelope) -> list[Command]:
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
