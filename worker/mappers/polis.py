"""Ory Polis events -> commands. Polis sends no event time, so the ingress records one in
the envelope (`occurred_at`: the signature timestamp of the delivery plus the event's
position in a batch); it orders every Polis change. `active: false` is deactivation;
`user.deleted` and `group.deleted` are final (Polis gives a returning user a new id)."""

from __future__ import annotations

from datetime import datetime

from schemas.envelope import EventEnvelope
from schemas.errors import InvalidPayload
from schemas.polis import KNOWN_EVENT_TYPES, Group, PolisEvent, User, parse_event
from worker.commands import Command, PutGroup, PutMembership, PutUser
from worker.mappers.email import first_address, scim_emails
from worker.rows import GroupRow, MembershipRow, UserRow

PROVIDER = "polis"


def commands(envelope: EventEnvelope) -> list[Command] | None:
    if envelope.event_type not in KNOWN_EVENT_TYPES:
        return None
    event = parse_event(envelope.body)
    if event.event != envelope.event_type or event.directory_id != envelope.directory_id:
        raise InvalidPayload("envelope headers do not match the body")
    at = envelope.occurred_at
    if at is None:
        raise InvalidPayload("a Polis event needs the delivery time recorded by the ingress")
    if event.event.startswith("user."):
        deleted = at if event.event == "user.deleted" else None
        return [PutUser(user_row(event, event.user(), at, deleted))]
    if event.event in ("group.created", "group.updated", "group.deleted"):
        deleted = at if event.event == "group.deleted" else None
        return [PutGroup(group_row(event, event.group(), at, deleted))]
    user = event.user()
    if user.group is None:
        raise InvalidPayload(f"{event.event} without a group")
    membership = MembershipRow(
        provider=PROVIDER,
        directory_id=event.directory_id,
        group_id=user.group.id,
        user_id=user.id,
        present=event.event == "group.user_added",
        event_at=at,
    )
    return [
        PutUser(user_row(event, user, at, None)),
        PutGroup(group_row(event, user.group, at, None)),
        PutMembership(membership),
    ]


def user_row(event: PolisEvent, user: User, at: datetime, deleted: datetime | None) -> UserRow:
    enterprise = user.raw.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User") or {}
    return UserRow(
        id=user.id,
        provider=PROVIDER,
        directory_id=event.directory_id,
        organization_id=event.tenant,
        idp_id=str(user.raw.get("externalId") or user.id),
        email=user_email(user),
        first_name=user.first_name,
        last_name=user.last_name,
        state="active" if user.active else "inactive",
        custom_attributes={
            "roles": user.roles,
            "department": enterprise.get("department"),
            "title": user.raw.get("title"),
            "product": event.product,
        },
        created_at=at,
        updated_at=at,
        deleted_at=deleted,
    )


def user_email(user: User) -> str | None:
    """Polis's `email` may be the SCIM `userName` (not an address): the SCIM primary
    address comes first, then `email`, the other SCIM addresses, and `userName` last."""
    primary, *others = scim_emails(user.raw) or [None]
    return first_address(primary, user.email, *others, user.raw.get("userName"))


def group_row(event: PolisEvent, group: Group, at: datetime, deleted: datetime | None) -> GroupRow:
    return GroupRow(
        id=group.id,
        provider=PROVIDER,
        directory_id=event.directory_id,
        organization_id=event.tenant,
        idp_id=str(group.raw.get("externalId") or group.id),
        name=group.name or "",
        created_at=at,
        updated_at=at,
        deleted_at=deleted,
    )
