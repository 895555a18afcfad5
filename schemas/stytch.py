"""Lenient models of Stytch B2B webhook bodies (delivered through Svix).

Every event: `event_id`, `action` (CREATE/UPDATE/DELETE, …), `object_type`, `source`
(DIRECT/DASHBOARD/SCIM), `id` of the object, `timestamp`; CREATE and UPDATE carry the
object under a key named like `object_type`. A member DELETE carries neither the member
nor its organization. The SCIM group payloads are not documented by Stytch: dsync reads
the group from `idp_group` (or `scim_group`) and the member from `member`/`member_id`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationError

from schemas.base import ProviderModel, UtcDatetime
from schemas.envelope import describe_validation_error
from schemas.errors import InvalidPayload
from schemas.parsing import validate_json

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
