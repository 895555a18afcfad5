"""What every producer of events hands to the envelope: a provider's delivered body split
into events, each with what routes it (event id, type, directory). Pure.

A provider's `route` (in its schemas module) is the one place that knows how its bodies
split and where their ids live, so the webhook ingress and any other producer of that
provider's events (an Events-API puller) build exactly the same envelopes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """A body as the provider delivered it, byte for byte, and the time the provider
    vouches it sent it (unix seconds: a webhook's signature time)."""

    body: bytes
    timestamp: float


@dataclass(frozen=True, slots=True)
class Routed:
    """One event of a delivery, ready to become an envelope (`schemas.envelope.to_envelopes`)."""

    event_id: str
    event_type: str
    directory_id: str | None
    body: bytes
    occurred_at: datetime | None = None
    key: str | None = None  # record key when it must not be the directory


# (delivery, its transport headers with lower-case names) -> its events, in order. Raises
# schemas' InvalidPayload when the body cannot be routed; never anything else.
Route = Callable[[Delivery, Mapping[str, str]], list[Routed]]
