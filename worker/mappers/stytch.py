"""Stytch B2B events -> commands. Organizations are directories, members are users, SCIM
IdP groups are groups. Any member status other than `active` means deprovisioned."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.envelope import EventEnvelope
from schemas.errors import InvalidPayload
from schemas.stytch import IdpGroup, Member, Organization, StytchEvent, parse_event
from worker.commands import (
    Command,
    DeleteById,
    MembershipById,
    PutDirectory,
    PutGroup,
    PutUser,
)
from worker.mappers.email import address
from worker.rows import DirectoryRow, GroupRow, UserRow

PROVIDER = "stytch"
# A member Stytch reports deleted is a deleted user (a tombstone), as a WorkOS or Polis
# user deletion is: its memberships leave the view. A newer payload brings it back.
DELETED_STATUS = "deleted"


def commands(envelope: EventEnvelope) -> list[Command] | None:
    event = parse_event(envelope.body)
    kind, action = event.object_type.lower(), event.action.lower()
    at = event.timestamp
    if kind == "member":
        return _member(event, action, at)
    if kind == "organization":
        return _organization(event, action, at)
    if kind in ("idp_group", "scim_group"):
        return _group(event, action, at)
    return None  # connections and other objects: not directory data


def _member(event: StytchEvent, action: str, at: datetime) -> list[Command]:
    if action == "delete":
        return [DeleteById("users", PROVIDER, event.id, at)]
    if event.member is None:
        raise InvalidPayload(f"member.{action} without a member object")
    return [PutUser(user_row(event.member, at))]


def _organization(event: StytchEvent, action: str, at: datetime) -> list[Command]:
    organization = event.organization or Organization(organization_id=event.id)
    row = directory_row(organization, at, deleted=action == "delete")
    return [PutDirectory(row)]


def _group(event: StytchEvent, action: str, at: datetime) -> list[Command]:
    group = event.group or IdpGroup(group_id=event.id)
    organization = group.organization_id or event.organization_id
    if action in ("member_add", "member_delete"):
        member_id = event.member.member_id if event.member else event.member_id
        if not member_id:
            raise InvalidPayload(f"idp_group.{action} names no member")
        present = action == "member_add"
        return [MembershipById(PROVIDER, group.group_id, member_id, present, at, organization)]
    if action == "delete":
        return [DeleteById("groups", PROVIDER, group.group_id, at)]
    if organization is None:
        raise InvalidPayload(f"idp_group.{action} names no organization")
    return [PutGroup(group_row(group, organization, at))]


def user_row(member: Member, at: datetime) -> UserRow:
    scim: dict[str, Any] = (member.scim_registration or {}).get("scim_attributes") or {}
    name: dict[str, Any] = scim.get("name") or {}
    updated_at = member.updated_at or at
    return UserRow(
        id=member.member_id,
        provider=PROVIDER,
        directory_id=member.organization_id,
        organization_id=member.organization_id,
        idp_id=str((member.scim_registration or {}).get("external_id") or member.member_id),
        email=address(member.email_address),
        first_name=name.get("given_name") or member.name or None,
        last_name=name.get("family_name") or None,
        state=member.status,
        custom_attributes={
            "name": member.name,
            "roles": [role.get("role_id") for role in member.roles if role.get("role_id")],
            "trusted_metadata": member.trusted_metadata or {},
        },
        created_at=member.created_at or at,
        updated_at=updated_at,
        deleted_at=updated_at if member.status == DELETED_STATUS else None,
    )


def group_row(group: IdpGroup, organization_id: str, at: datetime) -> GroupRow:
    return GroupRow(
        id=group.group_id,
        provider=PROVIDER,
        directory_id=organization_id,
        organization_id=organization_id,
        idp_id=group.group_id,
        name=group.group_name or "",
        created_at=at,
        updated_at=at,
        deleted_at=None,
    )


def directory_row(organization: Organization, at: datetime, *, deleted: bool) -> DirectoryRow:
    return DirectoryRow(
        id=organization.organization_id,
        provider=PROVIDER,
        organization_id=organization.organization_id,
        name=organization.organization_name,
        type="stytch",
        state="deleted" if deleted else "active",
        created_at=organization.created_at or at,
        updated_at=organization.updated_at or at,
        deleted_at=at if deleted else None,
    )
