"""After verification: split a provider's body into events and find what routes each
(event id, type, directory). Pure; raises InvalidPayload when a body cannot be routed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas import stytch
from schemas.errors import InvalidPayload
from schemas.parsing import load_json
from schemas.workos import parse_envelope
from webhook_ingress.verification import Verified

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Routed:
    event_id: str
    event_type: str
    directory_id: str | None
    body: bytes
    occurred_at: datetime | None = None
    key: str | None = None  # record key when it must not be the directory


def route_workos(verified: Verified, _headers: Mapping[str, str]) -> list[Routed]:
    envelope = parse_envelope(verified.body)
    occurred = _event_time(envelope.created_at)
    return [Routed(envelope.id, envelope.event, envelope.directory_id, verified.body, occurred)]


def _event_time(value: object) -> datetime | None:
    """The provider's event time for latency metrics; None when absent or unreadable (the
    worker validates the payload itself)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def route_stytch(verified: Verified, headers: Mapping[str, str]) -> list[Routed]:
    """Stytch's `event_id` identifies the event (`svix-id` when it is missing). Records are
    keyed by the object the event names: a member delete carries no organization, and it
    must share a partition with that member's other events."""
    if not isinstance(load_json(verified.body), dict):
        raise InvalidPayload("body is not a JSON object")
    event = stytch.parse_event(verified.body)
    event_id = event.event_id or headers.get("svix-id") or headers.get("webhook-id")
    if not event_id or len(event_id) > 255:
        raise InvalidPayload("event has no usable id")
    group = event.group if event.object_type.lower() in ("idp_group", "scim_group") else None
    key = f"{event.object_type.lower()}:{group.group_id if group else event.id}"
    return [
        Routed(
            event_id,
            event.event_type,
            event.organization_id,
            verified.body,
            occurred_at=event.timestamp,
            key=key[:255],
        )
    ]


def route_polis(verified: Verified, _headers: Mapping[str, str]) -> list[Routed]:
    """One event or a batch (a JSON array). Polis sends no event id and no event time:
    the time is the signature's (milliseconds) plus the event's position in the batch, in
    microseconds; the id is a hash of that time, the position and the canonical event."""
    document = load_json(verified.body)
    events = document if isinstance(document, list) else [document]
    if len(events) > MAX_BATCH:
        raise InvalidPayload(f"a batch holds at most {MAX_BATCH} events")
    signed_ms = round(verified.timestamp * 1000)
    return [_polis_event(event, index, signed_ms) for index, event in enumerate(events)]


def _polis_event(event: Any, index: int, signed_ms: int) -> Routed:
    if not isinstance(event, dict):
        raise InvalidPayload(f"event {index} is not a JSON object")
    kind, directory = event.get("event"), event.get("directory_id")
    if not (isinstance(kind, str) and kind and isinstance(directory, str) and directory):
        raise InvalidPayload(f"event {index} has no event type or directory_id")
    if len(kind) > 128 or len(directory) > 255:
        raise InvalidPayload(f"event {index} has an oversized event type or directory_id")
    try:
        body = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError as exc:  # a lone surrogate escape such as "\ud800"
        raise InvalidPayload(f"event {index} holds text that is not valid Unicode") from exc
    digest = hashlib.sha256(f"{signed_ms}:{index}:".encode() + body).hexdigest()
    occurred = datetime.fromtimestamp(signed_ms / 1000, UTC).timestamp() + index / 1_000_000
    return Routed(
        event_id=f"polis_{digest[:40]}",
        event_type=kind,
        directory_id=directory,
        body=body,
        occurred_at=datetime.fromtimestamp(occurred, UTC),
    )
