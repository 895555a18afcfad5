"""Fold typed events into an in-memory slice of the directory tables. Pure: the batch
loads the rows its events touch (`Keys`), folds every event in, and writes back the rows
that changed plus the directory deletions to cascade."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, TypeVar

from schemas.workos import (
    Directory,
    DirectoryEvent,
    DirectoryGroup,
    DirectoryUser,
    GroupEvent,
    MembershipEvent,
    UserEvent,
)
from worker.decode import Event
from worker.merge import (
    DirectoryRow,
    GroupRow,
    MembershipRow,
    UserRow,
    earliest,
    merge,
    merge_membership,
)

Outcome = Literal["applied", "duplicate", "stale", "ignored", "dead_lettered"]
MembershipKey = tuple[str, str]  # (group_id, user_id)
_Row = TypeVar("_Row", DirectoryRow, UserRow, GroupRow)


@dataclass(frozen=True)
class Keys:
    """What a batch must load before folding its events."""

    directories: set[str]
    users: set[str]
    groups: set[str]
    memberships: set[MembershipKey]


def keys_of(events: Iterable[Event]) -> Keys:
    keys = Keys(set(), set(), set(), set())
    for event in events:
        if isinstance(event, DirectoryEvent):
            keys.directories.add(event.data.id)
        elif isinstance(event, UserEvent):
            keys.directories.add(event.data.directory_id)
            keys.users.add(event.data.id)
        elif isinstance(event, GroupEvent):
            keys.directories.add(event.data.directory_id)
            keys.groups.add(event.data.id)
        else:
            keys.directories.add(event.data.directory_id)
            keys.users.add(event.data.user.id)
            keys.groups.add(event.data.group.id)
            keys.memberships.add((event.data.group.id, event.data.user.id))
    return keys


@dataclass
class Changes:
    """Rows loaded for a batch, and which of them the batch changed."""

    directories: dict[str, DirectoryRow]
    users: dict[str, UserRow]
    groups: dict[str, GroupRow]
    memberships: dict[MembershipKey, MembershipRow]
    dirty: dict[str, set[str]] = field(
        default_factory=lambda: {"directories": set(), "users": set(), "groups": set()}
    )
    dirty_memberships: set[MembershipKey] = field(default_factory=set)
    deleted_directories: dict[str, DirectoryRow] = field(default_factory=dict)

    def apply(self, provider: str, event: Event | None) -> Outcome:
        """Fold one event in; raises InvalidEvent when it can never apply."""
        if event is None:
            return "ignored"
        changed = False
        if isinstance(event, UserEvent):
            deleted = event.created_at if event.event == "dsync.user.deleted" else None
            changed = self._user(user_row(provider, event.data, deleted))
        elif isinstance(event, GroupEvent):
            deleted = event.created_at if event.event == "dsync.group.deleted" else None
            changed = self._group(group_row(provider, event.data, deleted))
        elif isinstance(event, DirectoryEvent):
            deleted = event.created_at if event.event == "dsync.deleted" else None
            changed = self._directory(directory_row(provider, event.data, deleted))
        elif isinstance(event, MembershipEvent):
            changed = self._membership(provider, event)
        return "applied" if changed else "stale"

    def changed_directories(self) -> list[DirectoryRow]:
        return [self.directories[key] for key in sorted(self.dirty["directories"])]

    def changed_users(self) -> list[UserRow]:
        return [self.users[key] for key in sorted(self.dirty["users"])]

    def changed_groups(self) -> list[GroupRow]:
        return [self.groups[key] for key in sorted(self.dirty["groups"])]

    def changed_memberships(self) -> list[MembershipRow]:
        return [self.memberships[key] for key in sorted(self.dirty_memberships)]

    def _membership(self, provider: str, event: MembershipEvent) -> bool:
        data = event.data
        user = self._user(user_row(provider, data.user, None))
        group = self._group(group_row(provider, data.group, None))
        incoming = MembershipRow(
            directory_id=data.directory_id,
            group_id=data.group.id,
            user_id=data.user.id,
            present=event.event == "dsync.group.user_added",
            event_at=event.created_at,
        )
        key = (incoming.group_id, incoming.user_id)
        stored = self.memberships.get(key)
        merged = merge_membership(stored, incoming)
        if merged != stored:
            self.memberships[key] = merged
            self.dirty_memberships.add(key)
        return user or group or merged != stored

    def _user(self, incoming: UserRow) -> bool:
        return self._put(self.users, "users", self._under_directory(incoming))

    def _group(self, incoming: GroupRow) -> bool:
        return self._put(self.groups, "groups", self._under_directory(incoming))

    def _directory(self, incoming: DirectoryRow) -> bool:
        before = self.directories.get(incoming.id)
        changed = self._put(self.directories, "directories", incoming)
        after = self.directories[incoming.id]
        if after.deleted_at is not None and (
            before is None or before.deleted_at != after.deleted_at
        ):
            # Rows already in the tables get it from SQL after the batch is written.
            self.deleted_directories[after.id] = after
        return changed

    def _under_directory(self, row: _Row) -> _Row:
        """A row of a deleted directory is born deleted (late events never resurrect)."""
        directory = self.directories.get(row.owner[1])
        if directory is None or directory.deleted_at is None or directory.owner != row.owner:
            return row
        return replace(row, deleted_at=earliest(row.deleted_at, directory.deleted_at))

    def _put(self, table: dict[str, _Row], kind: str, incoming: _Row) -> bool:
        stored = table.get(incoming.id)
        merged = merge(stored, incoming)
        if merged == stored:
            return False
        table[incoming.id] = merged
        self.dirty[kind].add(incoming.id)
        return True


def user_row(provider: str, user: DirectoryUser, deleted_at: datetime | None) -> UserRow:
    return UserRow(
        id=user.id,
        provider=provider,
        directory_id=user.directory_id,
        organization_id=user.organization_id,
        idp_id=user.idp_id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        state=user.state,
        custom_attributes=user.custom_attributes,
        created_at=user.created_at,
        updated_at=user.updated_at,
        deleted_at=deleted_at,
    )


def group_row(provider: str, group: DirectoryGroup, deleted_at: datetime | None) -> GroupRow:
    return GroupRow(
        id=group.id,
        provider=provider,
        directory_id=group.directory_id,
        organization_id=group.organization_id,
        idp_id=group.idp_id,
        name=group.name,
        created_at=group.created_at,
        updated_at=group.updated_at,
        deleted_at=deleted_at,
    )


def directory_row(provider: str, directory: Directory, deleted_at: datetime | None) -> DirectoryRow:
    return DirectoryRow(
        id=directory.id,
        provider=provider,
        organization_id=directory.organization_id,
        name=directory.name,
        type=directory.type,
        state=directory.state,
        created_at=directory.created_at,
        updated_at=directory.updated_at,
        deleted_at=deleted_at,
    )
