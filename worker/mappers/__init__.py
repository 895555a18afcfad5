"""One mapper per provider: a verified event body -> provider-neutral commands. Pure."""

from __future__ import annotations

from collections.abc import Callable

from schemas.envelope import EventEnvelope, Source
from worker.commands import Command
from worker.mappers import polis, scim, stytch, workos

# Returns None for an event type the provider sends but dsync does not use (ignored);
# raises schemas' InvalidPayload when the body does not fit its type.
Mapper = Callable[[EventEnvelope], list[Command] | None]

MAPPERS: dict[Source, Mapper] = {
    "workos": workos.commands,
    "stytch": stytch.commands,
    "polis": polis.commands,
    "scim": scim.commands,
}
