"""Lenient models of WorkOS Directory Sync webhook bodies.

WorkOS adds fields, omits `object` on webhook bodies, sends deprecated fields empty and
sometimes writes `created_at` without a zone. These models accept all of that and keep
only what dsync stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, TypeAdapter, ValidationError

from schemas.base import ProviderModel, UtcDatetime
from schemas.errors import InvalidPayload, describe_validation_error
from schemas.parsing import load_json
from schemas.routed import Delivery, Routed

UserEventType = Literal["dsync.user.created", "dsync.user.updated", "dsync.user.deleted"]
GroupEventType = Literal["dsync.group.created", "dsync.group.updated", "dsync.group.deleted"]
MembershipEventType = Literal["dsync.group.user_added", "dsync.group.user_removed"]
DirectoryEventType = Literal["dsync.activated", "dsync.deleted"]

Text = Annotated[str, Field(min_length=1, max_length=512)]


class DirectoryUser(ProviderModel):
    id: Text
    directory_id: Text
    organization_id: str | None = None
    idp_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    state: Text
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @property
    def is_active(self) -> bool:
        """Any state other than `active` (inactive, suspended, unknown) is deprovisioned."""
        return self.state == "active"


class DirectoryGroup(ProviderModel):
    id: Text
    directory_id: Text
    organization_id: str | None = None
    idp_id: str
    name: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


class Directory(ProviderModel):
    id: Text
    organization_id: str | None = None
    name: str | None = None
    type: str | None = None
    state: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class Membership(ProviderModel):
    directory_id: Text
    user: DirectoryUser
    group: DirectoryGroup


class _Event(ProviderModel):
    id: Text
    created_at: UtcDatetime


class UserEvent(_Event):
    event: UserEventType
    data: DirectoryUser


class GroupEvent(_Event):
    event: GroupEventType
    data: DirectoryGroup


class MembershipEvent(_Event):
    event: MembershipEventType
    data: Membership


class DirectoryEvent(_Event):
    event: DirectoryEventType
    data: Directory


WorkOSEvent = Annotated[
    UserEvent | GroupEvent | MembershipEvent | DirectoryEvent, Field(discriminator="event")
]
DIRECTORY_EVENT_TYPES: frozenset[str] = frozenset(get_args(DirectoryEventType))
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(
    [
        *get_args(UserEventType),
        *get_args(GroupEventType),
        *get_args(MembershipEventType),
        *DIRECTORY_EVENT_TYPES,
    ]
)
_EVENT = TypeAdapter[UserEvent | GroupEvent | MembershipEvent | DirectoryEvent](WorkOSEvent)


def parse_event(body: bytes) -> UserEvent | GroupEvent | MembershipEvent | DirectoryEvent:
    """Validate a body whose `event` is in KNOWN_EVENT_TYPES."""
    try:
        return _EVENT.validate_json(body)
    except ValidationError as exc:
        raise InvalidPayload(describe_validation_error(exc)) from exc


class WorkOSEnvelope(ProviderModel):
    """Only what the ingress needs to route an event: id, type and directory."""

    id: Text
    event: Annotated[str, Field(min_length=1, max_length=128)]
    data: dict[str, Any]
    created_at: Any = None  # the event's time; routing must not fail on it

    @property
    def directory_id(self) -> str | None:
        """`data.id` for directory events, `data.directory_id` for everything else. A
        string is returned whatever it holds: the envelope refuses what it cannot carry."""
        key = "id" if self.event in DIRECTORY_EVENT_TYPES else "directory_id"
        value = self.data.get(key)
        return value if isinstance(value, str) and value else None


def parse_envelope(body: bytes) -> WorkOSEnvelope:
    """Parse just the routing fields; raises InvalidPayload when the body cannot be routed."""
    document = load_json(body)
    try:
        return WorkOSEnvelope.model_validate(document)
    except ValidationError as exc:
        raise InvalidPayload(describe_validation_error(exc)) from exc


def route(delivery: Delivery, _headers: Mapping[str, str]) -> list[Routed]:
    """One event per body, keyed by its directory; the body travels untouched."""
    envelope = parse_envelope(delivery.body)
    occurred = event_time(envelope.created_at)
    return [Routed(envelope.id, envelope.event, envelope.directory_id, delivery.body, occurred)]


def event_time(value: object) -> datetime | None:
    """The provider's event time for latency metrics; None when absent or unreadable (the
    worker validates the payload itself)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
