"""One mapper per registered provider: a verified event body -> provider-neutral
commands. Pure. A provider's mapper is `commands` in `worker.mappers.<source>`, found by
name from the registry (`schemas.providers`); other modules here (`email`) are shared
rules and define no `commands`."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from schemas.envelope import EventEnvelope
from schemas.providers import PROVIDERS
from worker.commands import Command
from worker.mappers import reconcile

# Returns None for an event type the provider sends but dsync does not use (ignored);
# raises schemas' InvalidPayload when the body does not fit its type.
Mapper = Callable[[EventEnvelope], list[Command] | None]


def mapper(source: str) -> Mapper:
    """The `commands` of `worker.mappers.<source>`; ImportError or AttributeError when the
    provider has none (the registry test fails first). The reconciliation's own event
    types, the same for every provider, come first."""
    found: Mapper = importlib.import_module(f"{__name__}.{source}").commands

    def with_reconcile(envelope: EventEnvelope) -> list[Command] | None:
        if envelope.event_type in reconcile.EVENT_TYPES:
            return reconcile.corrections(envelope)
        return found(envelope)

    return with_reconcile


MAPPERS: dict[str, Mapper] = {spec.source: mapper(spec.source) for spec in PROVIDERS}
