"""Lenient models of Ory Polis (formerly BoxyHQ SAML Jackson) directory-sync webhooks.

`{event, tenant, product, directory_id, data}`; `data` is `{id, first_name, last_name,
email, active, roles?, raw}` for users, `{id, name, raw}` for groups, and the user's fields
plus `group: {id, name, raw}` for membership events. Polis sends no event id and no event
time; `active` may be the string "False" (Entra ID)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BeforeValidator, Field, ValidationError

from schemas.base import ProviderModel
from schemas.errors import InvalidPayload, describe_validation_error
from schemas.parsing import load_json, validate_json
from schemas.routed import Delivery, Routed

Text = Annotated[str, Field(min_length=1, max_length=512)]
MAX_BATCH = 1000  # events in one delivery
EventType = Literal[
    "user.created",
    "user.updated",
    "user.deleted",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.user_added",
    "group.user_removed",
]


def _boolish(value: object) -> object:
    """SCIM `active` arrives as a boolean or, from Entra ID, as "True"/"False"."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


class Group(ProviderModel):
    id: Text
    name: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


class User(ProviderModel):
    id: Text
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    active: Annotated[bool, BeforeValidator(_boolish)] = True
    roles: list[Any] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)
    group: Group | None = None


class PolisEvent(ProviderModel):
    event: Text
    tenant: str | None = None
    product: str | None = None
    directory_id: Text
    data: dict[str, Any]

    def user(self) -> User:
        return _validate(User, self.data)

    def group(self) -> Group:
        return _validate(Group, self.data)


_M = TypeVar("_M", User, Group)


def _validate(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(describe_validation_error(exc)) from exc


def parse_event(body: bytes) -> PolisEvent:
    return validate_json(PolisEvent, body)


KNOWN_EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))


def route(delivery: Delivery, _headers: Mapping[str, str]) -> list[Routed]:
    """One event or a batch (a JSON array). Polis sends no event id and no event time:
    the time is the signature's (milliseconds) plus the event's position in the batch, in
    microseconds; the id is a hash of that time, the position and the canonical event."""
    document = load_json(delivery.body)
    events = document if isinstance(document, list) else [document]
    if len(events) > MAX_BATCH:
        raise InvalidPayload(f"a batch holds at most {MAX_BATCH} events")
    signed_ms = round(delivery.timestamp * 1000)
    return [_routed(event, index, signed_ms) for index, event in enumerate(events)]


def _routed(event: Any, index: int, signed_ms: int) -> Routed:
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
