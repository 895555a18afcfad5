"""Random directory histories and the WorkOS event streams they produce (for property
tests), with the expected end state computed independently of dsync's code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from schemas.envelope import EventEnvelope
from tests.support import envelope_of, iso

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
# Polis has no directory events, so its histories never delete the directory.
operations_without_directory_deletion = steps


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


# Translators: the history's events (WorkOS-shaped) as each provider would send them,
# wrapped in the envelope the ingress would have produced.


def workos_envelopes(history: History) -> list[EventEnvelope]:
    return [envelope_of(event) for event in history.events]


def stytch_envelopes(history: History) -> list[EventEnvelope]:
    return [stytch_envelope(event, history.directory) for event in history.events]


def polis_envelopes(history: History) -> list[EventEnvelope]:
    envelopes = []
    for number, event in enumerate(history.events):
        body = _polis_body(event, history)
        if body is None:
            continue
        at = datetime.fromisoformat(event["created_at"]) + timedelta(microseconds=number)
        envelopes.append(
            EventEnvelope(
                source="polis",
                event_id=f"polis_{event['id']}",
                event_type=body["event"],
                directory_id=history.directory,
                received_at=datetime.now(UTC),
                body=json.dumps(body, sort_keys=True).encode(),
                occurred_at=at,
            )
        )
    return envelopes


_STYTCH_KINDS = {
    "dsync.activated": ("organization", "CREATE"),
    "dsync.deleted": ("organization", "DELETE"),
    "dsync.user.created": ("member", "CREATE"),
    "dsync.user.updated": ("member", "UPDATE"),
    "dsync.user.deleted": ("member", "DELETE"),
    "dsync.group.created": ("idp_group", "CREATE"),
    "dsync.group.updated": ("idp_group", "UPDATE"),
    "dsync.group.deleted": ("idp_group", "DELETE"),
    "dsync.group.user_added": ("idp_group", "MEMBER_ADD"),
    "dsync.group.user_removed": ("idp_group", "MEMBER_DELETE"),
}


def stytch_envelope(event: dict[str, Any], organization: str) -> EventEnvelope:
    """One WorkOS-shaped history event as Stytch would send it, in the ingress's envelope."""
    object_type, action = _STYTCH_KINDS[event["event"]]
    data = event["data"]
    body: dict[str, Any] = {
        "event_id": event["id"],
        "action": action,
        "object_type": object_type,
        "source": "SCIM",
        "project_id": "project-test",
        "timestamp": event["created_at"],
    }
    directory: str | None = organization
    if object_type == "organization":
        body["id"] = organization
        if action == "CREATE":
            body["organization"] = {
                "organization_id": organization,
                "organization_name": data["name"],
            }
    elif object_type == "member":
        body["id"] = data["id"]
        if action == "DELETE":
            directory = None  # Stytch names no organization on a member delete
        else:
            body["member"] = _stytch_member(data, organization)
    else:
        group = data.get("group", data)
        body["id"] = group["id"]
        body["idp_group"] = {
            "group_id": group["id"],
            "group_name": group["name"],
            "organization_id": organization,
        }
        if action.startswith("MEMBER"):
            body["member_id"] = data["user"]["id"]
    return EventEnvelope(
        source="stytch",
        event_id=event["id"],
        event_type=f"scim.{object_type}.{action}".lower(),
        directory_id=directory,
        received_at=datetime.now(UTC),
        body=json.dumps(body).encode(),
        key=f"{object_type}:{body['id']}",  # as the ingress keys Stytch records
    )


def _stytch_member(user: dict[str, Any], organization: str) -> dict[str, Any]:
    return {
        "member_id": user["id"],
        "organization_id": organization,
        "email_address": user["email"],
        "name": f"{user['first_name']} {user['last_name']}",
        "status": user["state"],
        "roles": [{"role_id": "stytch_member", "sources": []}],
        "created_at": user["created_at"],
        "updated_at": user["updated_at"],
    }


_POLIS_KINDS = {
    "dsync.user.created": "user.created",
    "dsync.user.updated": "user.updated",
    "dsync.user.deleted": "user.deleted",
    "dsync.group.created": "group.created",
    "dsync.group.updated": "group.updated",
    "dsync.group.deleted": "group.deleted",
    "dsync.group.user_added": "group.user_added",
    "dsync.group.user_removed": "group.user_removed",
}


def _polis_body(event: dict[str, Any], history: History) -> dict[str, Any] | None:
    kind = _POLIS_KINDS.get(event["event"])
    if kind is None:
        return None  # Polis has no directory events
    data = event["data"]
    if kind.startswith("user."):
        payload = _polis_user(data)
    elif kind.startswith("group.user"):
        payload = dict(_polis_user(data["user"]), group=_polis_group(data["group"]))
    else:
        payload = _polis_group(data)
    return {
        "event": kind,
        "tenant": history.organization,
        "product": "dsync-tests",
        "directory_id": history.directory,
        "data": payload,
    }


def _polis_user(user: dict[str, Any]) -> dict[str, Any]:
    # Entra ID sends `active` as a string; exercise both forms.
    active: object = user["state"] == "active"
    if len(user["id"]) % 2:
        active = str(active)
    return {
        "id": user["id"],
        "first_name": user["first_name"],
        "last_name": user["last_name"],
        "email": user["email"],
        "active": active,
        "raw": {"externalId": f"ext-{user['id']}"},
    }


def _polis_group(group: dict[str, Any]) -> dict[str, Any]:
    return {"id": group["id"], "name": group["name"], "raw": {}}
