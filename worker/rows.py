"""The rows the worker writes, and one declaration per written table (`Write`): the row
type, the named query that writes it and the table it lands in.

A row's fields are bound to the query's parameters by name, never by position: the query
names each parameter's column (`unnest($1::text[], ...) AS t (id, ...)`) and
`worker.columns` binds the field of that name to it. Reordering a field here therefore
cannot swap data, and a field the query does not name (or a column no field fills) is
refused before anything is written. tests/unit/test_columns.py checks every declaration
against sql/queries, tests/integration/test_columns.py against a migrated database. Rows
are built by keyword only (`kw_only`), so no constructor call depends on the order either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.scim_decisions import Outcome, Resource


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryRow:
    id: str
    provider: str
    organization_id: str | None
    name: str | None
    type: str | None
    state: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def owner(self) -> tuple[str, str]:
        return self.provider, self.id


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRow:
    id: str
    provider: str
    directory_id: str
    organization_id: str | None
    idp_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    state: str
    custom_attributes: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def owner(self) -> tuple[str, str]:
        return self.provider, self.directory_id


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRow:
    id: str
    provider: str
    directory_id: str
    organization_id: str | None
    idp_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def owner(self) -> tuple[str, str]:
        return self.provider, self.directory_id


@dataclass(frozen=True, slots=True, kw_only=True)
class MembershipRow:
    provider: str
    directory_id: str
    group_id: str
    user_id: str
    present: bool
    event_at: datetime

    @property
    def owner(self) -> tuple[str, str]:
        return self.provider, self.directory_id


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingDeletion:
    """A deletion of an object dsync has not seen yet; applied when the object arrives."""

    kind: str
    id: str
    provider: str
    deleted_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedEvent:
    """One event's entry in the inbox (its `applied_at` is the statement's clock)."""

    source: str
    event_id: str
    event_type: str
    directory_id: str | None
    outcome: str
    topic: str
    partition: int
    offset: int
    received_at: datetime | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredLetter:
    """A dead letter as stored: text PostgreSQL can hold, headers as `dlq.stored_headers`
    keeps them."""

    source: str | None
    event_id: str | None
    event_type: str | None
    directory_id: str | None
    topic: str
    partition: int
    offset: int
    reason: str
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthRow:
    """One directory of a batch against the latency budget (`record_health` derives the
    health table's columns from it, so it names no table)."""

    directory_id: str
    provider: str
    breached: bool
    event_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Write:
    """A named query that writes rows of `row`, into `table` (schema-qualified), whose
    first columns are the row's fields; None when the query derives what it stores."""

    query: str
    row: type[Any]
    table: str | None


DIRECTORIES = Write("save_directories", DirectoryRow, "dsync.directories")
USERS = Write("save_users", UserRow, "dsync.users")
GROUPS = Write("save_groups", GroupRow, "dsync.groups")
MEMBERSHIPS = Write("save_memberships", MembershipRow, "dsync_internal.memberships")
PENDING_DELETIONS = Write(
    "save_pending_deletions", PendingDeletion, "dsync_internal.pending_deletions"
)
EVENTS = Write("record_events", AppliedEvent, "dsync_internal.applied_events")
DEAD_LETTERS = Write("dead_letter", StoredLetter, "dsync_internal.dead_letters")
HEALTH = Write("record_health", HealthRow, None)
SCIM_RESOURCES = Write("scim_save_resources", Resource, "dsync_internal.scim_resources")
SCIM_OUTCOMES = Write("scim_record_outcomes", Outcome, "dsync_internal.scim_outcomes")

WRITES = (
    DIRECTORIES,
    USERS,
    GROUPS,
    MEMBERSHIPS,
    PENDING_DELETIONS,
    EVENTS,
    DEAD_LETTERS,
    HEALTH,
    SCIM_RESOURCES,
    SCIM_OUTCOMES,
)
"""Every named query that writes rows: tests/unit/test_columns.py fails on a query that
binds a row's columns and is missing here."""
