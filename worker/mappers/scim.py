"""SCIM writes (our own SCIM server's events) -> commands. Pure.

A user or group create/replace is the whole row; a delete is final (SCIM ids are never
reused); group members are one membership row per member added or removed. Whether the
write may happen at all (uniqueness, versions, unknown members) is decided in the applying
transaction by worker.scim_decisions, which drops the commands of a refused write.
"""

from __future__ import annotations

from typing import Any

from schemas.envelope import EventEnvelope
from schemas.errors import InvalidPayload
from schemas.scim import ScimWrite, parse_write
from schemas.scim_profile import extension_attributes
from worker.commands import Command, DeleteById, PutGroup, PutMembership, PutUser
from worker.mappers.email import first_address, scim_emails
from worker.rows import GroupRow, MembershipRow, UserRow

PROVIDER = "scim"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def commands(envelope: EventEnvelope) -> list[Command] | None:
    write = parse_write(envelope.body)
    if write.directory_id != envelope.directory_id or write.event_type != envelope.event_type:
        raise InvalidPayload("envelope headers do not match the body")
    return commands_of(write)


def commands_of(write: ScimWrite) -> list[Command]:
    if write.action == "delete":
        if write.kind == "User":
            return [DeleteById("users", PROVIDER, write.resource_id, write.at)]
        return [DeleteById("groups", PROVIDER, write.resource_id, write.at)]
    if write.resource is None and (write.kind == "User" or write.action == "create"):
        raise InvalidPayload(f"{write.event_type} without a resource")
    out: list[Command] = []
    if write.resource is not None:
        out.append(PutUser(user_row(write)) if write.kind == "User" else PutGroup(group_row(write)))
    if write.kind == "Group":
        out += _memberships(write, write.add_members, present=True)
        out += _memberships(write, write.remove_members, present=False)
    return out


def user_row(write: ScimWrite) -> UserRow:
    resource: dict[str, Any] = write.resource or {}
    name = resource.get("name") if isinstance(resource.get("name"), dict) else {}
    enterprise = resource.get(ENTERPRISE) if isinstance(resource.get(ENTERPRISE), dict) else {}
    primary, *others = scim_emails(resource) or [None]
    return UserRow(
        id=write.resource_id,
        provider=PROVIDER,
        directory_id=write.directory_id,
        organization_id=write.organization_id,
        idp_id=str(resource.get("externalId") or write.resource_id),
        email=first_address(primary, *others, resource.get("userName")),
        first_name=_text(name, "givenName"),
        last_name=_text(name, "familyName"),
        state="inactive" if resource.get("active") is False else "active",
        custom_attributes={
            **extension_attributes(resource),  # a profile's role: an attribute role source
            "userName": resource.get("userName"),
            "title": resource.get("title"),
            "department": (enterprise or {}).get("department"),
        },
        created_at=write.at,
        updated_at=write.at,
        deleted_at=None,
    )


def group_row(write: ScimWrite) -> GroupRow:
    resource: dict[str, Any] = write.resource or {}
    return GroupRow(
        id=write.resource_id,
        provider=PROVIDER,
        directory_id=write.directory_id,
        organization_id=write.organization_id,
        idp_id=str(resource.get("externalId") or write.resource_id),
        name=str(resource.get("displayName") or ""),
        created_at=write.at,
        updated_at=write.at,
        deleted_at=None,
    )


def _memberships(write: ScimWrite, users: list[str], *, present: bool) -> list[Command]:
    return [
        PutMembership(
            MembershipRow(
                provider=PROVIDER,
                directory_id=write.directory_id,
                group_id=write.resource_id,
                user_id=user,
                present=present,
                event_at=write.at,
            )
        )
        for user in users
    ]


def _text(mapping: dict[str, Any] | None, key: str) -> str | None:
    value = (mapping or {}).get(key)
    return value if isinstance(value, str) else None
