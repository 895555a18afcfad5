"""Lenient models of Stytch B2B webhook bodies (delivered through Svix).

Every event: `event_id`, `action` (CREATE/UPDATE/DELETE, …), `object_type`, `source`
(DIRECT/DASHBOARD/SCIM), `id` of the object, `timestamp`; CREATE and UPDATE carry the
object under a key named like `object_type`. A member DELETE carries neither the member
nor its organization. The SCIM group payloads are not documented by Stytch: dsync reads
the group from `idp_group` (or `scim_group`) and the member from `member`/`member_id`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationError

from schemas.base import ProviderModel, UtcDatetime
from schemas.errors import InvalidPayload, describe_validation_error
from schemas.parsing import load_json, validate_json
from schemas.routed import Delivery, Routed

Text = Annotated[str, Field(min_length=1, max_length=512)]


class Member(ProviderModel):
    member_id: Text
    organization_id: Text
    email_address: str | None = None
    name: str | None = None
    status: Text
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    roles: list[dict[str, Any]] = Field(default_factory=list)
    scim_registration: dict[str, Any] | None = None
    trusted_metadata: dict[str, Any] | None = None


class Organization(ProviderModel):
    organization_id: Text
    organization_name: str | None = None
    organization_slug: str | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None


class IdpGroup(ProviderModel):
    group_id: Text
    group_name: str | None = None
    organization_id: str | None = None
    connection_id: str | None = None


class StytchEvent(ProviderModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: str | None = None
    action: Text
    object_type: Text
    source: Text
    id: Text
    timestamp: UtcDatetime
    member: Member | None = None
    organization: Organization | None = None
    member_id: str | None = None

    @property
    def event_type(self) -> str:
        """`{source}.{object_type}.{action}` in lower case, e.g. `scim.member.delete`."""
        return f"{self.source}.{self.object_type}.{self.action}".lower()

    @property
    def group(self) -> IdpGroup | None:
        extra = self.model_extra or {}
        raw = extra.get("idp_group") or extra.get("scim_group")
        if raw is None:
            return None
        try:
            return IdpGroup.model_validate(raw)
        except ValidationError as exc:
            raise InvalidPayload(f"idp_group: {describe_validation_error(exc)}") from exc

    @property
    def organization_id(self) -> str | None:
        """The organization (dsync's directory) when the body names it."""
        for candidate in (self.organization, self.member, self.group):
            if candidate is not None and candidate.organization_id:
                return candidate.organization_id
        value = (self.model_extra or {}).get("organization_id")
        return value if isinstance(value, str) and value else None


def parse_event(body: bytes) -> StytchEvent:
    return validate_json(StytchEvent, body)


def route(delivery: Delivery, headers: Mapping[str, str]) -> list[Routed]:
    """Stytch's `event_id` identifies the event (`svix-id` when it is missing). Records are
    keyed by the object the event names: a member delete carries no organization, and it
    must share a partition with that member's other events."""
    if not isinstance(load_json(delivery.body), dict):
        raise InvalidPayload("body is not a JSON object")
    event = parse_event(delivery.body)
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
            delivery.body,
            occurred_at=event.timestamp,
            key=key[:255],
        )
    ]


def is_event_type(event_type: str) -> bool:
    """Stytch's types are open (`{source}.{object_type}.{action}`): a bounded shape of
    three short identifiers, so metric labels stay few without a list of every type."""
    parts = event_type.split(".")
    return len(parts) == 3 and all(p.isidentifier() and len(p) <= 24 for p in parts)


def check_webhook_secret(secret: str) -> None:
    """Svix secrets are `whsec_` + base64; the library silently accepts garbage, so a
    wrong secret would refuse every webhook instead of failing at start."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ValueError("each Stytch webhook secret must be 'whsec_' followed by base64")
