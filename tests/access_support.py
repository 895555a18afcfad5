"""A running worker plus the access model's admin calls, for the access tests: send WorkOS,
Stytch or Polis events through the real broker and read accounts, roles and credentials."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from dsync.settings import Settings
from schemas.envelope import EventEnvelope
from tests import processes
from tests.histories import stytch_envelope
from tests.support import (
    DIRECTORY,
    ORGANIZATION,
    envelope_of,
    eventually,
    iso,
    produce,
    stored_offsets_total,
)
from worker.access import admin
from worker.access.admin import Scope

CAUSE = {"command": "test", "actor": "pytest"}
ORGANIZATION_SCOPE = Scope("organization", None)
CREDENTIAL_TABLES = ("sessions", "api_keys", "device_tokens")


# WorkOS-shaped events. Membership events embed the user and group exactly as last sent,
# as WorkOS does, so they never carry a stale payload.


def person(
    user_id: str,
    email: str | None = None,
    *,
    state: str = "active",
    updated_at: float = 1_700_000_100.0,
    attributes: dict[str, Any] | None = None,
    directory_id: str = DIRECTORY,
) -> dict[str, Any]:
    return {
        "id": user_id,
        "directory_id": directory_id,
        "organization_id": ORGANIZATION,
        "idp_id": f"idp-{user_id}",
        "email": email or f"{user_id}@example.com",
        "first_name": "Test",
        "last_name": user_id,
        "state": state,
        "custom_attributes": attributes or {},
        "created_at": iso(1_600_000_000.0),
        "updated_at": iso(updated_at),
    }


def team(group_id: str, name: str, *, updated_at: float = 1_700_000_100.0) -> dict[str, Any]:
    return {
        "id": group_id,
        "directory_id": DIRECTORY,
        "organization_id": ORGANIZATION,
        "idp_id": f"idp-{group_id}",
        "name": name,
        "created_at": iso(1_600_000_000.0),
        "updated_at": iso(updated_at),
    }


def event(kind: str, data: dict[str, Any], at: float) -> dict[str, Any]:
    return {"id": f"event_{uuid.uuid4().hex}", "event": kind, "data": data, "created_at": iso(at)}


def user_created(user: dict[str, Any]) -> dict[str, Any]:
    return event("dsync.user.created", user, _time(user) + 1)


def user_updated(user: dict[str, Any]) -> dict[str, Any]:
    return event("dsync.user.updated", user, _time(user) + 1)


def user_deleted(user: dict[str, Any], at: float = 1_700_000_500.0) -> dict[str, Any]:
    return event("dsync.user.deleted", user, at)


def group_created(group: dict[str, Any]) -> dict[str, Any]:
    return event("dsync.group.created", group, _time(group) + 1)


def group_updated(group: dict[str, Any]) -> dict[str, Any]:
    return event("dsync.group.updated", group, _time(group) + 1)


def group_deleted(group: dict[str, Any], at: float = 1_700_000_500.0) -> dict[str, Any]:
    return event("dsync.group.deleted", group, at)


def added(user: dict[str, Any], group: dict[str, Any], at: float) -> dict[str, Any]:
    data = {"directory_id": DIRECTORY, "user": user, "group": group}
    return event("dsync.group.user_added", data, at)


def removed(user: dict[str, Any], group: dict[str, Any], at: float) -> dict[str, Any]:
    data = {"directory_id": DIRECTORY, "user": user, "group": group}
    return event("dsync.group.user_removed", data, at)


def stytch(workos_event: dict[str, Any], organization: str = ORGANIZATION) -> EventEnvelope:
    """The same change as Stytch would send it (member/idp_group objects)."""
    return stytch_envelope(workos_event, organization)


def polis_user_event(kind: str, *, active: bool, user_id: str = "polis-user-1") -> EventEnvelope:
    body = {
        "event": kind,
        "tenant": ORGANIZATION,
        "product": "tests",
        "directory_id": "polis-directory",
        "data": {
            "id": user_id,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": f"{user_id}@example.com",
            "active": active,
            "raw": {},
        },
    }
    return EventEnvelope(
        source="polis",
        event_id=f"polis_{uuid.uuid4().hex}",
        event_type=kind,
        directory_id="polis-directory",
        received_at=datetime.now(UTC),
        body=json.dumps(body).encode(),
        occurred_at=datetime.now(UTC),
    )


def _time(data: dict[str, Any]) -> float:
    return datetime.fromisoformat(data["updated_at"]).timestamp()


Sendable = dict[str, Any] | EventEnvelope


@dataclass
class AccessHarness:
    """One test's database (with a JSON codec) and its running worker."""

    settings: Settings
    db: asyncpg.Connection

    async def send(self, *events: Sendable) -> None:
        """Produce the events and wait until the worker has committed all of them."""
        envelopes = [e if isinstance(e, EventEnvelope) else envelope_of(e) for e in events]
        before = await stored_offsets_total(self.db)
        await produce(
            self.settings.require_bootstrap_servers(), self.settings.events_topic, envelopes
        )
        await eventually(
            lambda: stored_offsets_total(self.db),
            lambda n: n >= before + len(envelopes),
            within=40,
        )

    async def admin(self, call: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run an admin call in its own transaction, as `dsync` does."""
        async with self.db.transaction():
            return await call(self.db, *args)

    async def account(self, user_id: str) -> asyncpg.Record:
        row = await self.db.fetchrow(
            "SELECT * FROM dsync.accounts WHERE directory_user_id = $1", user_id
        )
        assert row is not None, f"no account for directory user {user_id}"
        return row

    async def roles(self, account_id: str) -> dict[tuple[str, str], str]:
        rows = await self.db.fetch(
            "SELECT scope_type, scope_id, role FROM dsync.effective_roles WHERE account_id = $1",
            account_id,
        )
        return {(r["scope_type"], r["scope_id"]): r["role"] for r in rows}

    async def org_role(self, account_id: str) -> tuple[str | None, list[dict[str, Any]]]:
        row = await self.db.fetchrow(
            "SELECT role, sources FROM dsync.effective_roles"
            " WHERE account_id = $1 AND scope_type = 'organization'",
            account_id,
        )
        return (None, []) if row is None else (row["role"], row["sources"])

    async def issue_credentials(self, account_id: str) -> None:
        for table in CREDENTIAL_TABLES:
            await self.db.execute(f"INSERT INTO dsync.{table} (account_id) VALUES ($1)", account_id)

    async def live_credentials(self, account_id: str) -> dict[str, int]:
        counts = {}
        for table in CREDENTIAL_TABLES:
            counts[table] = await self.db.fetchval(
                f"SELECT count(*) FROM dsync.{table} WHERE account_id = $1 AND revoked_at IS NULL",
                account_id,
            )
        return counts

    async def map_group(self, group_name: str, role: str, scope: Scope = ORGANIZATION_SCOPE) -> int:
        mapping: int = await self.admin(
            admin.put_mapping, ORGANIZATION, None, group_name, scope, role, CAUSE
        )
        return mapping

    async def audit_actions(self, account_id: str) -> list[str]:
        rows = await self.db.fetch(
            "SELECT action FROM dsync.audit_log WHERE account_id = $1 ORDER BY seq", account_id
        )
        return [r["action"] for r in rows]


async def run_dsync(database_url: str, *args: str) -> tuple[int, str, str]:
    """`dsync <args>` in its own process against this database, as an admin named
    `test-admin`: exit code, stdout, stderr."""
    env = {"DSYNC_DATABASE_URL": database_url, "DSYNC_ACTOR": "test-admin"}
    return await processes.run_dsync(env, *args)
