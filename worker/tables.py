"""The in-memory slice of the directory tables one batch touches (`TableSlice`), and the
fold of provider-neutral commands into it. Pure: the batch loads the rows its commands
touch (`Keys`), folds every command in, and writes back the rows that changed plus the
directory deletions to cascade. (Not the change feed: that is the outbox's `changes`
topic, worker/outbox.py.)"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from worker.commands import (
    Command,
    DeleteById,
    MembershipById,
    PutDirectory,
    PutGroup,
    PutMembership,
    PutUser,
    Vanished,
)
from worker.errors import InvalidEvent
from worker.item import Outcome
from worker.merge import combine_deletions, described, merge, merge_membership, seen_in, vanish
from worker.rows import DirectoryRow, GroupRow, MembershipRow, PendingDeletion, UserRow

Kind = Literal["users", "groups"]
MembershipKey = tuple[str, str]  # (group_id, user_id)
PendingKey = tuple[str, str]  # (kind, id)
# (provider, id): two providers may use the same directory id, and each has its own row.
# User and group ids are unique per table: another provider's event naming one is refused.
DirectoryKey = tuple[str, str]
_Row = TypeVar("_Row", UserRow, GroupRow)


@dataclass(frozen=True)
class Keys:
    """What a batch must load before folding its commands."""

    directories: set[DirectoryKey] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    memberships: set[MembershipKey] = field(default_factory=set)


def keys_of(commands: Iterable[Command]) -> Keys:
    keys = Keys()
    for command in commands:
        if isinstance(command, PutDirectory | PutUser | PutGroup):
            keys.directories.add(command.row.owner)
            if isinstance(command, PutUser):
                keys.users.add(command.row.id)
            elif isinstance(command, PutGroup):
                keys.groups.add(command.row.id)
        elif isinstance(command, PutMembership):
            keys.memberships.add((command.row.group_id, command.row.user_id))
        elif isinstance(command, DeleteById | Vanished):
            (keys.users if command.kind == "users" else keys.groups).add(command.id)
        else:
            keys.users.add(command.user_id)
            keys.groups.add(command.group_id)
            keys.memberships.add((command.group_id, command.user_id))
            if command.directory_id is not None:
                keys.directories.add((command.provider, command.directory_id))
    return keys


@dataclass
class TableSlice:
    """The rows a batch loaded from the directory tables, and which of them it changed."""

    directories: dict[DirectoryKey, DirectoryRow]
    users: dict[str, UserRow]
    groups: dict[str, GroupRow]
    memberships: dict[MembershipKey, MembershipRow]
    pending: dict[PendingKey, PendingDeletion] = field(default_factory=dict)
    dirty: dict[str, set[str]] = field(default_factory=lambda: {"users": set(), "groups": set()})
    dirty_directories: set[DirectoryKey] = field(default_factory=set)
    dirty_memberships: set[MembershipKey] = field(default_factory=set)
    dirty_pending: set[PendingKey] = field(default_factory=set)
    deleted_directories: dict[DirectoryKey, DirectoryRow] = field(default_factory=dict)
    _undo: list[tuple[dict[Any, Any], set[Any] | None, Any, Any, bool]] = field(
        default_factory=list
    )

    def apply(self, commands: list[Command] | None) -> Outcome:
        """Fold one event's commands in, all or nothing: raises InvalidEvent (and changes
        nothing) when the event can never apply."""
        if commands is None:
            return "ignored"
        self._undo = []
        try:
            changed = [self._one(command) for command in commands]
        except InvalidEvent:
            self._rollback()
            raise
        return "applied" if any(changed) else "stale"

    def _write(self, table: dict[Any, Any], dirty: set[Any] | None, key: Any, value: Any) -> None:
        """Every mutation goes through here, so a failing event can be undone."""
        self._undo.append((table, dirty, key, table.get(key), dirty is not None and key in dirty))
        table[key] = value
        if dirty is not None:
            dirty.add(key)

    def _rollback(self) -> None:
        for table, dirty, key, old, was_dirty in reversed(self._undo):
            if old is None:
                table.pop(key, None)
            else:
                table[key] = old
            if dirty is not None and not was_dirty:
                dirty.discard(key)
        self._undo = []

    def changed_directories(self) -> list[DirectoryRow]:
        return [self.directories[key] for key in sorted(self.dirty_directories)]

    def changed_users(self) -> list[UserRow]:
        return [self.users[key] for key in sorted(self.dirty["users"])]

    def changed_groups(self) -> list[GroupRow]:
        return [self.groups[key] for key in sorted(self.dirty["groups"])]

    def changed_memberships(self) -> list[MembershipRow]:
        return [self.memberships[key] for key in sorted(self.dirty_memberships)]

    def changed_pending(self) -> list[PendingDeletion]:
        return [self.pending[key] for key in sorted(self.dirty_pending)]

    def _one(self, command: Command) -> bool:
        if isinstance(command, PutUser | PutGroup):
            return self._member(command.row)
        if isinstance(command, PutDirectory):
            return self._directory(command.row)
        if isinstance(command, PutMembership):
            return self._membership(command.row)
        if isinstance(command, DeleteById):
            return self._delete_by_id(command)
        if isinstance(command, Vanished):
            return self._vanished(command)
        return self._membership_by_id(command)

    def _directory(self, incoming: DirectoryRow) -> bool:
        key = incoming.owner
        before = self.directories.get(key)
        merged = merge(described(before), incoming)
        if merged == before:
            return False
        self._write(self.directories, self.dirty_directories, key, merged)
        if merged.deleted_at is not None and (
            before is None or before.deleted_at != merged.deleted_at
        ):
            # Rows already in the tables get it from SQL after the batch is written.
            self._write(self.deleted_directories, None, key, merged)
        return True

    def _member(self, row: UserRow | GroupRow) -> bool:
        """The user or group, and its directory's row; only the former decides whether the
        event changed anything (`stale` stays stale when it merely records the directory)."""
        self._seen(row)
        if isinstance(row, UserRow):
            return self._put(self.users, "users", self._with_deletions("users", row))
        return self._put(self.groups, "groups", self._with_deletions("groups", row))

    def _seen(self, member: UserRow | GroupRow) -> None:
        """Every directory has a row from its first event (see worker.merge)."""
        before = self.directories.get(member.owner)
        after = seen_in(before, member)
        if after is not before:  # seen_in returns the row itself when it keeps it
            self._write(self.directories, self.dirty_directories, member.owner, after)

    def _membership(self, incoming: MembershipRow) -> bool:
        key = (incoming.group_id, incoming.user_id)
        stored = self.memberships.get(key)
        merged = merge_membership(stored, incoming)
        if merged == stored:
            return False
        self._write(self.memberships, self.dirty_memberships, key, merged)
        return True

    def _membership_by_id(self, command: MembershipById) -> bool:
        known = [
            row
            for row in (self.groups.get(command.group_id), self.users.get(command.user_id))
            if row
        ]
        directory = command.directory_id or (known[0].directory_id if known else None)
        if directory is None:
            raise InvalidEvent("membership of a group and user dsync has not seen: no directory")
        if any(row.owner != (command.provider, directory) for row in known):
            raise InvalidEvent("membership names a group or user of another directory")
        row = MembershipRow(
            provider=command.provider,
            directory_id=directory,
            group_id=command.group_id,
            user_id=command.user_id,
            present=command.present,
            event_at=command.at,
        )
        return self._membership(row)

    def _delete_by_id(self, command: DeleteById) -> bool:
        if command.kind == "users":
            return self._delete_stored(self.users, command)
        return self._delete_stored(self.groups, command)

    def _delete_stored(self, table: dict[str, _Row], command: DeleteById) -> bool:
        stored = table.get(command.id)
        if stored is None:
            return self._defer_deletion(command)
        if stored.provider != command.provider:
            raise InvalidEvent("deletion names an object of another provider")
        merged = merge(stored, replace(stored, deleted_at=command.at))
        if merged == stored:
            return False
        self._write(table, self.dirty[command.kind], command.id, merged)
        return True

    def _vanished(self, command: Vanished) -> bool:
        """A row dsync does not hold is left unrecorded: nothing to delete."""
        table: dict[str, Any] = self.users if command.kind == "users" else self.groups
        stored = table.get(command.id)
        if stored is None:
            return False
        if stored.provider != command.provider:
            raise InvalidEvent("vanished names an object of another provider")
        merged = vanish(stored, command.directory_id, command.unchanged_since, command.gone_at)
        if merged == stored:
            return False
        self._write(table, self.dirty[command.kind], command.id, merged)
        return True

    def _defer_deletion(self, command: DeleteById) -> bool:
        key = (command.kind, command.id)
        stored = self.pending.get(key)
        at = combine_deletions(command.provider, stored.deleted_at if stored else None, command.at)
        if stored is not None and stored.deleted_at == at:
            return False
        assert at is not None
        pending = PendingDeletion(
            kind=command.kind, id=command.id, provider=command.provider, deleted_at=at
        )
        self._write(self.pending, self.dirty_pending, key, pending)
        return True

    def _with_deletions(self, kind: Kind, row: _Row) -> _Row:
        """A row of a deleted directory, or one whose deletion arrived first, is born deleted."""
        deleted = row.deleted_at
        directory = self.directories.get(row.owner)
        if directory is not None:
            deleted = combine_deletions(row.provider, deleted, directory.deleted_at)
        pending = self.pending.get((kind, row.id))
        if pending is not None and pending.provider == row.provider:
            deleted = combine_deletions(row.provider, deleted, pending.deleted_at)
        return row if deleted == row.deleted_at else replace(row, deleted_at=deleted)

    def _put(self, table: dict[str, _Row], kind: Kind, incoming: _Row) -> bool:
        stored = table.get(incoming.id)
        merged = merge(stored, incoming)
        if merged == stored:
            return False
        self._write(table, self.dirty[kind], incoming.id, merged)
        return True
