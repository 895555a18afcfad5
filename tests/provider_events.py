"""One directory's changes as a given provider sends them, for tests that tell the same
story under WorkOS, Stytch and Polis. Changes are written WorkOS-shaped and translated the
way tests.histories does (Stytch organizations are directories, Polis has no directory
events); each change is ten seconds after the previous one, so every provider orders them
as written."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.envelope import EventEnvelope
from tests.histories import stytch_envelope
from tests.support import envelope_of, iso

PROVIDERS = ("workos", "stytch", "polis")


@dataclass
class ProviderDirectory:
    """A directory of `provider`; `organization` is its WorkOS organization / Polis tenant
    (a Stytch organization is the directory itself, so pass the same id)."""

    provider: str
    directory_id: str
    organization: str
    clock: float = 1_700_000_000.0
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def activated(self) -> EventEnvelope | None:
        """The directory's own creation event; None for Polis, which sends none."""
        return self._directory("dsync.activated", "active")

    def deleted(self) -> EventEnvelope | None:
        return self._directory("dsync.deleted", "deleting")

    def user(
        self,
        user_id: str,
        email: str | None = None,
        *,
        state: str = "active",
        raw: dict[str, Any] | None = None,
    ) -> EventEnvelope:
        """The user created, or updated to this state."""
        kind = "dsync.user.updated" if user_id in self.users else "dsync.user.created"
        self.users[user_id] = self._person(user_id, email, state)
        return self._send(kind, self.users[user_id], raw=raw)

    def user_deleted(self, user_id: str) -> EventEnvelope:
        payload = self.users.get(user_id) or self._person(user_id, None, "active")
        return self._send("dsync.user.deleted", dict(payload, updated_at=iso(self._tick())))

    def group(self, group_id: str, name: str) -> EventEnvelope:
        kind = "dsync.group.updated" if group_id in self.groups else "dsync.group.created"
        self.groups[group_id] = self._team(group_id, name)
        return self._send(kind, self.groups[group_id])

    def group_deleted(self, group_id: str) -> EventEnvelope:
        payload = self.groups.get(group_id) or self._team(group_id, "unknown")
        return self._send("dsync.group.deleted", payload)

    def added(self, group_id: str, user_id: str) -> EventEnvelope:
        return self._membership("dsync.group.user_added", group_id, user_id)

    def removed(self, group_id: str, user_id: str) -> EventEnvelope:
        return self._membership("dsync.group.user_removed", group_id, user_id)

    # ------------------------------------------------------------------------------------
    def _tick(self) -> float:
        self.clock += 10
        return self.clock

    def _person(self, user_id: str, email: str | None, state: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "directory_id": self.directory_id,
            "organization_id": self.organization,
            "idp_id": f"idp-{user_id}",
            "email": email if email is not None else f"{user_id}@{self.provider}.example.com",
            "first_name": "Test",
            "last_name": user_id,
            "state": state,
            "custom_attributes": {},
            "created_at": iso(1_600_000_000.0),
            "updated_at": iso(self._tick()),
        }

    def _team(self, group_id: str, name: str) -> dict[str, Any]:
        return {
            "id": group_id,
            "directory_id": self.directory_id,
            "organization_id": self.organization,
            "idp_id": f"idp-{group_id}",
            "name": name,
            "created_at": iso(1_600_000_000.0),
            "updated_at": iso(self._tick()),
        }

    def _membership(self, kind: str, group_id: str, user_id: str) -> EventEnvelope:
        user = self.users.get(user_id) or self._person(user_id, None, "active")
        group = self.groups.get(group_id) or self._team(group_id, "unknown")
        data = {"directory_id": self.directory_id, "user": user, "group": group}
        return self._send(kind, data)

    def _directory(self, kind: str, state: str) -> EventEnvelope | None:
        if self.provider == "polis":
            return None
        data = {
            "object": "directory",
            "id": self.directory_id,
            "organization_id": self.organization,
            "name": "Shared Corp",
            "type": "generic scim v2.0",
            "state": state,
            "created_at": iso(1_600_000_000.0),
            "updated_at": iso(1_600_000_000.0),
        }
        return self._send(kind, data)

    def _send(
        self, kind: str, data: dict[str, Any], *, raw: dict[str, Any] | None = None
    ) -> EventEnvelope:
        event = {
            "id": f"event_{uuid.uuid4().hex}",
            "event": kind,
            "data": data,
            "created_at": iso(self._tick()),
        }
        if self.provider == "workos":
            return envelope_of(event)
        if self.provider == "stytch":
            return stytch_envelope(event, self.directory_id)
        return self._polis(event, raw or {})

    def _polis(self, event: dict[str, Any], raw: dict[str, Any]) -> EventEnvelope:
        kind = event["event"].removeprefix("dsync.")
        data = event["data"]
        if kind.startswith("group.user"):
            payload = dict(_polis_user(data["user"], raw), group=_polis_group(data["group"]))
        elif kind.startswith("user."):
            payload = _polis_user(data, raw)
        else:
            payload = _polis_group(data)
        body = {
            "event": kind,
            "tenant": self.organization,
            "product": "dsync-tests",
            "directory_id": self.directory_id,
            "data": payload,
        }
        return EventEnvelope(
            source="polis",
            event_id=f"polis_{event['id']}",
            event_type=kind,
            directory_id=self.directory_id,
            received_at=datetime.now(UTC),
            body=json.dumps(body).encode(),
            occurred_at=datetime.fromisoformat(event["created_at"]),
        )


def _polis_user(user: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": user["id"],
        "first_name": user["first_name"],
        "last_name": user["last_name"],
        "email": user["email"],
        "active": user["state"] == "active",
        "raw": raw,
    }


def _polis_group(group: dict[str, Any]) -> dict[str, Any]:
    return {"id": group["id"], "name": group["name"], "raw": {}}
