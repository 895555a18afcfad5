"""Events API events -> the envelopes the webhook ingress would have produced. Pure.

The ingress produces a WorkOS webhook's body untouched, with source `workos`, the event's
`id` as event id, its `event` as type, the directory named by `data` and the event's
`created_at` as occurred time (schemas.workos.route). The same event from
the Events API gets the same envelope, so the worker's event-id inbox applies an event
that arrives by both paths once: WorkOS states that Events API ids equal webhook ids
(provider-apis.md §1.6, "Event ids equal webhook event ids").

The record value is the event object re-serialised (compact JSON, ASCII escapes): the
Events API wraps events in a list, so there are no original bytes to keep. It carries two
keys a webhook body lacks (`object`, `context`); the worker's models ignore unknown keys.

What the ingress refuses with 400 (no usable id, type or directory, text PostgreSQL cannot
hold) is refused here too: returned as a Refusal, never produced. An unknown event type is
produced as the ingress produces it (the worker decides what it means).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas import workos
from schemas.envelope import EventEnvelope, to_envelopes
from schemas.errors import InvalidPayload
from schemas.routed import Delivery

MAX_ID_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Refusal:
    event_id: str | None  # None when the event had no usable id
    reason: str  # field paths and rules, never values
    body: bytes


@dataclass(slots=True)
class Converted:
    envelopes: list[EventEnvelope] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    cursor: str | None = None  # the last usable event id of the page
    cursor_time: datetime | None = None  # that event's created_at


def convert(events: Sequence[Any], received_at: datetime) -> Converted:
    """Every event of one page, in order: an envelope or a refusal each."""
    converted = Converted()
    for event in events:
        # ASCII with escapes: a lone surrogate stays the escape a webhook body would hold.
        body = json.dumps(event, separators=(",", ":")).encode()
        event_id = _usable_id(event)
        try:
            converted.envelopes.append(envelope_of(body, received_at))
        except InvalidPayload as exc:
            converted.refusals.append(Refusal(event_id, str(exc)[:300], body))
        if event_id is not None:
            converted.cursor = event_id
            converted.cursor_time = workos.event_time(event.get("created_at"))
    return converted


def envelope_of(body: bytes, received_at: datetime) -> EventEnvelope:
    """The ingress's envelope for one event's JSON: WorkOS's one `route` (schemas.workos)
    and the envelope rules every producer shares (schemas.envelope.to_envelopes). Raises
    InvalidPayload with a safe reason for what the ingress would answer 400."""
    delivery = Delivery(body, received_at.timestamp())
    return to_envelopes("workos", workos.route(delivery, {}), received_at)[0]


def _usable_id(event: Any) -> str | None:
    """An id the cursor can hold and `after` can carry: a non-empty printable string."""
    if not isinstance(event, dict):
        return None
    value = event.get("id")
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable():
        return value
    return None
