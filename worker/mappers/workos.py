"""WorkOS Directory Sync events -> commands."""

from __future__ import annotations

from datetime import datetime

from schemas.envelope import EventEnvelope
from schemas.errors import InvalidPayload
from schemas.workos import (
    KNOWN_EVENT_TYPES,
    Directory,
    DirectoryEvent,
    DirectoryGroup,
    DirectoryUser,
    GroupEvent,
    MembershipEvent,
    UserEvent,
    parse_event,
)
from worker.commands import Command, PutDirectory, PutGroup, PutMembership, PutUser
from worker.mappers.email import address
from worker.rows import DirectoryRow, GroupRow, MembershipRow, UserRow

PROVIDER = "workos"


def commands(envelope: EventEnvelope) -> list[Command] | None:
    if envelope.event_type not in KNOWN_EVENT_TYPES:
        return None
    event = parse_event(envelope.body)
    if event.id != envelope.event_id or event.event != envelope.event_type:
        raise InvalidPayload("envelope headers do not match the body")
    if _directories(event) != {envelope.directory_id}:
        raise InvalidPayload("event touches objects outside its directory")
    at = event.created_at
    if isinstance(event, UserEvent):
        deleted = at if event.event == "dsync.user.deleted" else None
        return [PutUser(user_row(event.data, deleted))]
    if isinstance(event, GroupEvent):
        deleted = at if event.event == "dsync.group.deleted" else None
        return [PutGroup(group_row(event.data, deleted))]
    if isinstance(event, DirectoryEvent):
        deleted = at if event.event == "dsync.deleted" else None
        return [PutDirectory(directory_row(event.data, deleted))]
    data = event.data
    membership = MembershipRow(
        provider=PROVIDER,
        directory_id=data.directory_id,
        group_id=data.group.id,
        user_id=data.user.id,
        present=event.event == "dsync.group.user_added",
        event_at=at,
    )
    # The embedded user and group are full objects: a membership that arrives before
    # them still lands.
    return [
        PutUser(user_row(data.user, None)),
        PutGroup(group_row(data.group, None)),
        PutMembership(membership),
    ]


def _directories(
    event: UserEvent | GroupEvent | MembershipEvent | DirectoryEvent,
) -> set[str | None]:
    """Every directory id the event names; a valid event names exactly one."""
    if isinstance(event, DirectoryEvent):
        return {event.data.id}
    if isinstance(event, MembershipEvent):
        data = event.data
        return {data.directory_id, data.user.directory_id, data.group.directory_id}
    return {event.data.directory_id}


def user_row(user: DirectoryUser, deleted_at: datetime | None) -> UserRow:
    return UserRow(
        id=user.id,
        provider=PROVIDER,
        directory_id=user.directory_id,
        organization_id=user.organization_id,
        idp_id=user.idp_id,
        email=address(user.email),
        first_name=user.first_name,
        last_name=user.last_name,
        state=user.state,
        custom_attributes=user.custom_attributes,
        created_at=user.created_at,
        updated_at=user.updated_at,
        deleted_at=deleted_at,
    )


def group_row(group: DirectoryGroup, deleted_at: datetime | None) -> GroupRow:
    return GroupRow(
        id=group.id,
        provider=PROVIDER,
        directory_id=group.directory_id,
        organization_id=group.organization_id,
        idp_id=group.idp_id,
        name=group.name,
        created_at=group.created_at,
        updated_at=group.updated_at,
        deleted_at=deleted_at,
    )


def directory_row(directory: Directory, deleted_at: datetime | None) -> DirectoryRow:
    return DirectoryRow(
        id=directory.id,
        provider=PROVIDER,
        organization_id=directory.organization_id,
        name=directory.name,
        type=directory.type,
        state=directory.state,
        created_at=directory.created_at,
        updated_at=directory.updated_at,
        deleted_at=deleted_at,
    )
