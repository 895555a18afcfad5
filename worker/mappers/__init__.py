"""One mapper per provider: a verified event body -> provider-neutral commands. Pure."""

from __future__ import annotations

from collections.abc import Callable

from schemas.envelope import EventEnvelope, Source
from worker.commands import Command
from worker.mappers import polis, reconcile, stytch, workos

# Returns None for an event type the provider sends but dsync does not use (ignored);
# raises schemas' InvalidPayload when the body does not fit its type.
Mapper = Callable[[EventEnvelope], list[Command] | None]


def _or_reconcile(provider: Mapper) -> Mapper:
    """The reconciliation's own event types, the same for every provider, come first."""

    def mapper(envelope: EventEnvelope) -> list[Command] | None:
        if envelope.event_type in reconcile.EVENT_TYPES:
            return reconcile.commands(envelope)
        return provider(envelope)

    return mapper


MAPPERS: dict[Source, Mapper] = {
    "workos": _or_reconcile(workos.commands),
    "stytch": _or_reconcile(stytch.commands),
    "polis": _or_reconcile(polis.commands),
}
