"""Random directory histories and the WorkOS event streams they produce (for property
tests), with the expected end state computed independently of dsync's code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tests.support import iso

OPERATIONS = (
    "create_user",
    "update_user",
    "deactivate_user",
    "delete_user",
    "create_group",
    "rename_group",
    "delete_group",
    "add_member",
    "remove_member",
)
USER_SLOTS = 4
GROUP_SLOTS = 3

Op = tuple[str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(OPERATIONS),
        st.integers(0, USER_SLOTS - 1),
        st.integers(0, GROUP_SLOTS - 1),
    ),
    min_size=8,
    max_size=50,
)
# A history, and whether the whole directory is deleted at its end (one in five).
operations = st.tuples(steps, st.sampled_from([False, False, False, False, True])).map(
    lambda pair: [*pair[0], ("delete_directory", 0, 0)] if pair[1] else pair[0]
)


@dataclass
class Expected:
    live_users: set[str] = field(default_factory=set)
    live_groups: set[str] = field(default_factory=set)
    memberships: set[tuple[str, str]] = field(default_factory=set)
    directory_deleted: bool = False


@dataclass
class _Object:
    id: str
    payload: dict[str, Any]
    alive: bool = True


class History:
    """Interprets operations; invalid ones (updating a missing user, …) are skipped."""

    def __init__(self, directory: str, organization: str = "org_prop") -> None:
        self.directory = directory
        self.organization = organization
        self.clock = 1_700_000_000
        self.events: list[dict[str, Any]] = []
        self.users: dict[int, _Object] = {}
        self.groups: dict[int, _Object] = {}
        self.generation = 0
        self.members: set[tuple[str, str]] = set()
        self.deleted = False
        self._emit("dsync.activated", self._directory_payload("active"))

    def run(self, ops: list[tuple[str, int, int]]) -> History:
        for name, u, g in ops:
            if self.deleted:
                break
            self.clock += 10
            getattr(self, name)(u, g)
        return self

    def expected(self) -> Expected:
        if self.deleted:
            return Expected(directory_deleted=True)
        live_users = {o.id for o in self.users.values() if o.alive}
        live_groups = {o.id for o in self.groups.values() if o.alive}
        return Expected(live_users, live_groups, set(self.members), False)

    # operations -------------------------------------------------------------------------
    def create_user(self, u: int, _g: int) -> None:
        if u in self.users and self.users[u].alive:
            return
        self.generation += 1
        user_id = f"{self.directory}-user{u}-{self.generation}"
        self.users[u] = _Object(user_id, self._user_payload(user_id, "active", f"First{u}"))
        self._emit("dsync.user.created", self.users[u].payload)

    def update_user(self, u: int, _g: int) -> None:
        self._change_user(u, first_name=f"Renamed{self.clock}")

    def deactivate_user(self, u: int, _g: int) -> None:
        self._change_user(u, state="inactive")

    def delete_user(self, u: int, _g: int) -> None:
        user = self._live_user(u)
        user.payload = dict(user.payload, state="inactive", updated_at=iso(self.clock))
        user.alive = False
        self.members = {m for m in self.members if m[1] != user.id}
        self._emit("dsync.user.deleted", user.payload)

    def create_group(self, _u: int, g: int) -> None:
        if g in self.groups and self.groups[g].alive:
            return
        self.generation += 1
        group_id = f"{self.directory}-group{g}-{self.generation}"
        self.groups[g] = _Object(group_id, self._group_payload(group_id, f"Group {g}"))
        self._emit("dsync.group.created", self.groups[g].payload)

    def rename_group(self, _u: int, g: int) -> None:
        group = self._live_group(g)
        group.payload = dict(
            group.payload, name=f"Group {g} at {self.clock}", updated_at=iso(self.clock)
        )
        self._emit("dsync.group.updated", group.payload)

    def delete_group(self, _u: int, g: int) -> None:
        group = self._live_group(g)
        group.alive = False
        self.members = {m for m in self.members if m[0] != group.id}
        self._emit("dsync.group.deleted", group.payload)

    def add_member(self, u: int, g: int) -> None:
        self._membership(u, g, add=True)

    def remove_member(self, u: int, g: int) -> None:
        self._membership(u, g, add=False)

    def delete_directory(self, _u: int, _g: int) -> None:
        self.deleted = True
        self._emit("dsync.deleted", self._directory_payload("deleting"))

    # helpers ----------------------------------------------------------------------------
    def _live_user(self, u: int) -> _Object:
        """The user in slot `u`, created first (at an earlier tick) when there is none."""
        if u not in self.users or not self.users[u].alive:
            self.create_user(u, 0)
            self.clock += 10
        return self.users[u]

    def _live_group(self, g: int) -> _Object:
        if g not in self.groups or not self.groups[g].alive:
            self.create_group(0, g)
            self.clock += 10
        return self.groups[g]

    def _change_user(self, u: int, **changes: str) -> None:
        user = self._live_user(u)
        user.payload = dict(user.payload, updated_at=iso(self.clock), **changes)
        self._emit("dsync.user.updated", user.payload)

    def _membership(self, u: int, g: int, *, add: bool) -> None:
        user, group = self._live_user(u), self._live_group(g)
        key = (group.id, user.id)
        if not add and key not in self.members:
            self._membership(u, g, add=True)  # a removal needs a membership first
            self.clock += 10
        # An add may repeat for an existing member (Polis re-sends them).
        (self.members.add if add else self.members.discard)(key)
        kind = "dsync.group.user_added" if add else "dsync.group.user_removed"
        data = {"directory_id": self.directory, "user": user.payload, "group": group.payload}
        self._emit(kind, data)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        number = len(self.events)
        self.events.append(
            {
                "id": f"event_{self.directory}_{number}",
                "event": kind,
                "data": data,
                "created_at": iso(self.clock),
            }
        )

    def _user_payload(self, user_id: str, state: str, first_name: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "directory_id": self.directory,
            "organization_id": self.organization,
            "idp_id": f"idp-{user_id}",
            "email": f"{user_id}@example.com",
            "first_name": first_name,
            "last_name": "Tester",
            "state": state,
            "custom_attributes": {"department": "R&D"},
            "created_at": iso(self.clock),
            "updated_at": iso(self.clock),
        }

    def _group_payload(self, group_id: str, name: str) -> dict[str, Any]:
        return {
            "id": group_id,
            "directory_id": self.directory,
            "organization_id": self.organization,
            "idp_id": f"idp-{group_id}",
            "name": name,
            "created_at": iso(self.clock),
            "updated_at": iso(self.clock),
        }

    def _directory_payload(self, state: str) -> dict[str, Any]:
        return {
            "object": "directory",
            "id": self.directory,
            "organization_id": self.organization,
            "name": "Property Corp",
            "type": "generic scim v2.0",
            "state": state,
            "created_at": iso(1_690_000_000),
            "updated_at": iso(1_690_000_000),
        }
