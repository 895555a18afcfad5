"""The access step of a batch: after the directory rows are written, hand the ids the batch
changed to the access model in SQL, in the same transaction: accounts linked or created,
deprovisioned (every credential revoked) or reactivated, effective roles recomputed, audit
rows and change messages written. The entry point, sync_batch_access, and sync_access with
its phases are in sql/functions/06_access_accounts.sql.

The rules live in SQL because the application calls the same code from its own login
transaction (`dsync.jit_provision`) and admin commands must apply them too."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.envelope import EventEnvelope
from sql import query
from worker.access.payloads import (
    CREDENTIAL_KINDS,
    SYNC_RESULT,
    BatchCauses,
    CommandCause,
    EventCause,
    SyncCounts,
    read,
)
from worker.commands import Command
from worker.store import TxConn
from worker.tables import DirectoryKey, TableSlice, keys_of

REBUILD_CAUSE: CommandCause = {"command": "rebuild"}


@dataclass
class Causes:
    """Which event last changed each object of a batch, for the audit log."""

    users: dict[str, EventCause] = field(default_factory=dict)
    groups: dict[str, EventCause] = field(default_factory=dict)
    directories: dict[str, dict[str, EventCause]] = field(default_factory=dict)

    def record(self, envelope: EventEnvelope, commands: Iterable[Command]) -> None:
        cause: EventCause = {
            "source": envelope.source,
            "event_id": envelope.event_id,
            "event_type": envelope.event_type,
        }
        keys = keys_of(commands)
        for user in keys.users | {user for _, user in keys.memberships}:
            self.users[user] = cause
        for group in keys.groups:
            self.groups[group] = cause
        for provider, directory in keys.directories:
            self.directories.setdefault(provider, {})[directory] = cause

    def as_json(self) -> BatchCauses:
        return {"users": self.users, "groups": self.groups, "directories": self.directories}


@dataclass(frozen=True, slots=True)
class AccessSummary:
    """What the access step did, for metrics."""

    deactivated: int = 0
    deactivated_by_provider: dict[str, int] = field(default_factory=dict)
    reactivated: int = 0
    created: int = 0
    linked: int = 0
    roles_changed: int = 0
    revoked: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: AccessSummary) -> AccessSummary:
        def add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {key: a.get(key, 0) + b.get(key, 0) for key in a.keys() | b.keys()}

        return AccessSummary(
            deactivated=self.deactivated + other.deactivated,
            deactivated_by_provider=add(
                self.deactivated_by_provider, other.deactivated_by_provider
            ),
            reactivated=self.reactivated + other.reactivated,
            created=self.created + other.created,
            linked=self.linked + other.linked,
            roles_changed=self.roles_changed + other.roles_changed,
            revoked=add(self.revoked, other.revoked),
        )

    @classmethod
    def from_json(cls, data: object) -> AccessSummary:
        """From sync_access's answer; AccessContractError when it is another shape."""
        counts = read(SYNC_RESULT, data, "sync_access's result")
        return cls._of(counts) if "linked" in counts else cls()  # else {"accounts": 0}

    @classmethod
    def _of(cls, counts: SyncCounts) -> AccessSummary:
        return cls(
            deactivated=counts["deactivated"],
            deactivated_by_provider=counts["deactivated_by_provider"],
            reactivated=counts["reactivated"],
            created=counts["created"],
            linked=counts["linked"],
            roles_changed=counts["roles_changed"],
            revoked={k: counts["revoked"][k] for k in CREDENTIAL_KINDS if k in counts["revoked"]},
        )


async def sync_access(conn: TxConn, changes: TableSlice, causes: Causes) -> AccessSummary:
    """Caller owns the transaction. Cheap when the batch changed nothing. Users whose only
    change is a membership are passed apart: the access step considers them only in
    organizations where memberships decide access (sync_batch_access)."""
    users = sorted(changes.dirty["users"])
    members = sorted({user for _, user in changes.dirty_memberships} - changes.dirty["users"])
    groups = sorted(changes.dirty["groups"])
    directories = sorted(changes.deleted_directories)  # (provider, id)
    if not (users or members or groups or directories):
        return AccessSummary()
    result = await conn.fetchval(
        query("sync_access"),
        users,
        members,
        groups,
        [directory_id for _, directory_id in directories],
        causes.as_json(),
        [provider for provider, _ in directories],
    )
    return AccessSummary.from_json(result)


async def sync_all_access(conn: TxConn) -> AccessSummary:
    """Bring every account in line with the directory as it stands (after a rebuild)."""
    causes: BatchCauses = {"default": REBUILD_CAUSE}
    result = await conn.fetchval(query("sync_all_access"), causes)
    return AccessSummary.from_json(result)


async def disabled_directories(conn: TxConn, keys: Iterable[DirectoryKey]) -> set[DirectoryKey]:
    """Which of these (provider, directory id) pairs an operator disabled."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    rows = await conn.fetch(
        query("disabled_directories"), [k[0] for k in wanted], [k[1] for k in wanted]
    )
    return {(row["provider"], row["directory_id"]) for row in rows}
