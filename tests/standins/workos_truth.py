"""The WorkOS stand-in's "provider truth": directories, users, groups and memberships in
memory, and the history of `dsync.*` events that led there. Every mutation appends the
event WorkOS would emit, so a test builds a truth and its history in one go.

Thread safe (one lock): tests mutate from their thread while the server reads in its own.

Guesses (the reference does not say; provider-apis.md §1, workos-directory-sync.md §1):
- Ids are `<prefix>_01STANDIN` + a 17-digit sequence shared by all objects, so ids sort by
  creation like ULIDs do; a cursor whose object was deleted still has a place in the order.
- Deleting a user or group removes its memberships without `user_removed` events.
- `dsync.deleted` removes the directory's users and groups from the read API at once
  (WorkOS shows `deleting` for a while first).
- Event `data` for users and groups is the REST object minus `groups`; `previous_attributes`
  on updates holds the changed top-level fields' old values.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Object = dict[str, Any]


def iso_ms(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event: Object  # exactly what GET /events serves
    created: float  # the stand-in clock's time, for the visibility lag and range filters


@dataclass
class WorkOSTruth:
    clock: Callable[[], float] = time.time
    organization_id: str = "org_01STANDIN00000000000000001"
    directories: dict[str, Object] = field(default_factory=dict)
    users: dict[str, Object] = field(default_factory=dict)
    groups: dict[str, Object] = field(default_factory=dict)
    memberships: set[tuple[str, str]] = field(default_factory=set)  # (group id, user id)
    events: list[StoredEvent] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _sequence: int = 0
    _stamped: float = 0.0

    def stamp(self) -> str:
        """The next `created_at`/`updated_at`: the clock's time, but at least 1 ms after the
        previous stamp, so one object's successive versions never tie on `updated_at`."""
        with self.lock:
            self._stamped = max(self.clock(), self._stamped + 0.001)
            return iso_ms(self._stamped)

    def new_id(self, prefix: str) -> str:
        with self.lock:
            self._sequence += 1
            return f"{prefix}_01STANDIN{self._sequence:017d}"

    # Directories ---------------------------------------------------------------------

    def add_directory(self, name: str = "Example Co") -> str:
        with self.lock:
            now = self.stamp()
            directory_id = self.new_id("directory")
            self.directories[directory_id] = {
                "object": "directory",
                "id": directory_id,
                "organization_id": self.organization_id,
                "external_key": directory_id[-8:],
                "type": "okta scim v2.0",
                "state": "linked",
                "name": name,
                "created_at": now,
                "updated_at": now,
            }
            self._emit("dsync.activated", self._directory_event_data(directory_id, "active"))
            return directory_id

    def delete_directory(self, directory_id: str) -> None:
        with self.lock:
            data = self._directory_event_data(directory_id, "inactive")
            del self.directories[directory_id]
            for user_id in [u for u, o in self.users.items() if o["directory_id"] == directory_id]:
                self._forget_user(user_id)
            for group_id in [
                g for g, o in self.groups.items() if o["directory_id"] == directory_id
            ]:
                self._forget_group(group_id)
            self._emit("dsync.deleted", data)

    # Users ---------------------------------------------------------------------------

    def add_user(self, directory_id: str, email: str, **fields: Any) -> str:
        with self.lock:
            now = self.stamp()
            user_id = self.new_id("directory_user")
            local = email.split("@")[0]
            self.users[user_id] = {
                "object": "directory_user",
                "id": user_id,
                "directory_id": directory_id,
                "organization_id": self.organization_id,
                "idp_id": f"idp-{user_id[-6:]}",
                "email": email,
                "first_name": local.title(),
                "last_name": "Standin",
                "state": "active",
                "custom_attributes": {},
                "raw_attributes": {},
                "role": {"slug": "member"},
                "roles": [{"slug": "member"}],
                "groups": [],
                "created_at": now,
                "updated_at": now,
                **fields,
            }
            self._emit("dsync.user.created", _event_data(self.users[user_id]))
            return user_id

    def update_user(self, user_id: str, **changes: Any) -> None:
        with self.lock:
            self._update("dsync.user.updated", self.users[user_id], changes)

    def delete_user(self, user_id: str) -> None:
        with self.lock:
            user = self._forget_user(user_id)
            user["updated_at"] = self.stamp()
            self._emit("dsync.user.deleted", _event_data(user))

    # Groups and memberships ---------------------------------------------------------

    def add_group(self, directory_id: str, name: str) -> str:
        with self.lock:
            now = self.stamp()
            group_id = self.new_id("directory_group")
            self.groups[group_id] = {
                "object": "directory_group",
                "id": group_id,
                "idp_id": f"idp-{group_id[-6:]}",
                "directory_id": directory_id,
                "organization_id": self.organization_id,
                "name": name,
                "raw_attributes": {},
                "created_at": now,
                "updated_at": now,
            }
            self._emit("dsync.group.created", _event_data(self.groups[group_id]))
            return group_id

    def rename_group(self, group_id: str, name: str) -> None:
        with self.lock:
            self._update("dsync.group.updated", self.groups[group_id], {"name": name})

    def delete_group(self, group_id: str) -> None:
        with self.lock:
            group = self._forget_group(group_id)
            group["updated_at"] = self.stamp()
            self._emit("dsync.group.deleted", _event_data(group))

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.lock:
            self.memberships.add((group_id, user_id))
            self._emit("dsync.group.user_added", self._membership_data(group_id, user_id))

    def remove_member(self, group_id: str, user_id: str) -> None:
        with self.lock:
            self.memberships.discard((group_id, user_id))
            self._emit("dsync.group.user_removed", self._membership_data(group_id, user_id))

    # Internals -------------------------------------------------------------------------

    def _emit(self, kind: str, data: Object) -> None:
        created = self.clock()  # the visibility lag counts in real time
        event = {
            "object": "event",
            "id": self.new_id("event"),
            "event": kind,
            "data": data,
            "created_at": self.stamp(),
            "context": {},
        }
        self.events.append(StoredEvent(event, created))

    def _update(self, kind: str, target: Object, changes: dict[str, Any]) -> None:
        previous = {key: copy.deepcopy(target.get(key)) for key in changes}
        target.update(changes, updated_at=self.stamp())
        self._emit(kind, {**_event_data(target), "previous_attributes": previous})

    def _forget_user(self, user_id: str) -> Object:
        self.memberships = {m for m in self.memberships if m[1] != user_id}
        return self.users.pop(user_id)

    def _forget_group(self, group_id: str) -> Object:
        self.memberships = {m for m in self.memberships if m[0] != group_id}
        return self.groups.pop(group_id)

    def _directory_event_data(self, directory_id: str, state: str) -> Object:
        directory = self.directories[directory_id]
        data = {k: directory[k] for k in ("object", "id", "organization_id", "type", "name")}
        return {
            **data,
            "state": state,  # events say active/inactive where REST says linked/unlinked
            "created_at": directory["created_at"],
            "updated_at": self.stamp(),
        }

    def _membership_data(self, group_id: str, user_id: str) -> Object:
        group, user = self.groups[group_id], self.users[user_id]
        return {
            "directory_id": group["directory_id"],
            "user": _event_data(user),
            "group": _event_data(group),
        }


def _event_data(item: Object) -> Object:
    return {k: copy.deepcopy(v) for k, v in item.items() if k != "groups"}
