"""What the worker decides about SCIM writes, given what is stored. Pure.

The SCIM process proposes; this decides, inside the applying transaction, so a decision
sees every write committed before it (on any SCIM process) and those earlier in the same
batch: the `Ledger` holds the stored resources a batch touches and changes them as it
accepts writes, so a batch of N writes is decided in memory after one load. The status is
what the SCIM client is answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from schemas.scim import ScimWrite

TICK = timedelta(microseconds=1)  # PostgreSQL's timestamp resolution


@dataclass(frozen=True, slots=True)
class Stored:
    """The stored resource a write targets, as the verdict needs it."""

    directory_id: str
    kind: str
    version: int
    deleted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Resource:
    """A row of dsync_internal.scim_resources."""

    id: str
    directory_id: str
    kind: str
    name: str
    external_id: str | None
    version: int
    resource: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    def name_key(self) -> tuple[str, str, str] | None:
        return None if self.deleted_at else (self.directory_id, self.kind, self.name.lower())


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A row of dsync_internal.scim_outcomes: the decision on one SCIM write, and the time
    it was applied at."""

    event_id: str
    directory_id: str
    status: int
    resource_id: str
    scim_type: str | None
    detail: str | None
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    status: int
    scim_type: str | None = None
    detail: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status < 300


def judge(write: ScimWrite, stored: Stored | None, *, name_taken: bool, unknown: int) -> Verdict:
    """The answer to `write`: `name_taken` says whether another live resource of its kind
    holds its userName/displayName (ignoring case); `unknown` counts members to add that
    are not live users of the directory. Checks run in the order a client can fix them."""
    refusal = _target_refusal(write, stored)
    if refusal is not None:
        return refusal
    if name_taken:
        attribute = "userName" if write.kind == "User" else "displayName"
        return Verdict(409, "uniqueness", f"{attribute} already exists in this directory")
    if unknown:
        return Verdict(400, "invalidValue", f"{unknown} member(s) are not users of this directory")
    return Verdict({"create": 201, "replace": 200, "delete": 204}[write.action])


def _target_refusal(write: ScimWrite, stored: Stored | None) -> Verdict | None:
    if write.action == "create":
        # Ids are random UUIDs: only a replay of another directory's event could collide.
        return None if stored is None else Verdict(409, "uniqueness", "id already exists")
    if (
        stored is None
        or stored.deleted
        or (stored.directory_id, stored.kind)
        != (
            write.directory_id,
            write.kind,
        )
    ):
        return Verdict(404, None, f"{write.kind} {write.resource_id} not found")
    if write.base_version is not None and write.base_version != stored.version:
        return Verdict(412, None, f"{write.kind} changed since version {write.base_version}")
    return None


@dataclass
class Ledger:
    """The stored resources one batch touches (`resources`), which live resource holds
    each name the batch uses (`names`: (directory, kind, lower(name)) -> id), and which
    member ids are live users (`users`: (directory, id)); changed as writes are accepted."""

    resources: dict[str, Resource]
    names: dict[tuple[str, str, str], str]
    users: set[tuple[str, str]]
    changed: dict[str, Resource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for found in self.resources.values():
            key = found.name_key()
            if key is not None:
                self.names[key] = found.id
            if found.kind == "User" and found.deleted_at is None:
                self.users.add((found.directory_id, found.id))

    def decide(self, write: ScimWrite) -> tuple[Verdict, datetime]:
        """The verdict, and the time to apply the write at: its own, or just after the
        resource's last change (another SCIM process's clock may run ahead of this one's,
        and the merge rules keep the newest by time). An accepted write changes the ledger."""
        found = self.resources.get(write.resource_id)
        at = write.at if found is None else max(write.at, found.updated_at + TICK)
        name = write.name()
        holder = self.names.get((write.directory_id, write.kind, name.lower())) if name else None
        unknown = len({m for m in write.add_members if (write.directory_id, m) not in self.users})
        stored = None
        if found is not None:
            stored = Stored(found.directory_id, found.kind, found.version, bool(found.deleted_at))
        taken = holder is not None and holder != write.resource_id
        verdict = judge(write, stored, name_taken=taken, unknown=unknown)
        if verdict.accepted:
            self._apply(write, found, at)
        return verdict, at

    def _apply(self, write: ScimWrite, found: Resource | None, at: datetime) -> None:
        if found is None:
            after = _created(write, at)
        elif write.action == "delete":
            after = replace(found, version=found.version + 1, updated_at=at, deleted_at=at)
        else:
            after = _replaced(found, write, at)
        old_key = found.name_key() if found else None
        if old_key is not None:
            self.names.pop(old_key, None)
        new_key = after.name_key()
        if new_key is not None:
            self.names[new_key] = after.id
        if after.kind == "User":
            member = (after.directory_id, after.id)
            (self.users.discard if after.deleted_at else self.users.add)(member)
        self.resources[after.id] = self.changed[after.id] = after


def _created(write: ScimWrite, at: datetime) -> Resource:
    resource = write.resource or {}
    external = resource.get("externalId")
    return Resource(
        id=write.resource_id,
        directory_id=write.directory_id,
        kind=write.kind,
        name=write.name() or "",
        external_id=external if isinstance(external, str) else None,
        version=1,
        resource=resource,
        created_at=at,
        updated_at=at,
        deleted_at=None,
    )


def _replaced(found: Resource, write: ScimWrite, at: datetime) -> Resource:
    """A replace; a group change without attributes (members only) keeps them."""
    if write.resource is None:
        return replace(found, version=found.version + 1, updated_at=at)
    external = write.resource.get("externalId")
    return replace(
        found,
        name=write.name() or "",
        external_id=external if isinstance(external, str) else None,
        resource=write.resource,
        version=found.version + 1,
        updated_at=at,
    )
