"""Administration of the access model: group mappings, attribute rules, direct roles,
policies, approvals, JIT provisioning, directory sync switches, revocation hooks and the
audit chain check. Each call runs the SQL function that owns the rule (so a change is
audited and re-evaluates exactly the accounts it can touch); the caller owns the
transaction and passes a cause naming the command and its actor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sql import query

Conn = asyncpg.Connection
ScopeType = Literal["organization", "team", "environment"]


class AdminError(Exception):
    """The command cannot be done as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Scope:
    type: ScopeType
    id: str | None  # None for the organization scope: the account's or mapping's organization

    @classmethod
    def of(cls, team: str | None, environment: str | None) -> Scope:
        if team and environment:
            raise AdminError("give --team or --environment, not both")
        if team:
            return cls("team", team)
        if environment:
            return cls("environment", environment)
        return cls("organization", None)


# ------------------------------------------------------------------------------------------
# The rules file (YAML): an organization's group mappings and ordered attribute rules,
# applied declaratively (what the file does not list is removed).


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MappingSpec(_Strict):
    group_id: str | None = None
    group_name: str | None = None
    role: str
    team: str | None = None
    environment: str | None = None

    @model_validator(mode="after")
    def _one_group(self) -> MappingSpec:
        if (self.group_id is None) == (self.group_name is None):
            raise ValueError("a mapping names exactly one of group_id or group_name")
        if self.team and self.environment:
            raise ValueError("a mapping is scoped to a team or an environment, not both")
        return self


class RuleSpec(_Strict):
    source_attribute: str = Field(min_length=1)
    match_value: str
    role: str


class RolesFile(_Strict):
    organization: str = Field(min_length=1)
    group_mappings: list[MappingSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)


def load_roles_file(path: Path) -> RolesFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return RolesFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise AdminError(f"cannot read {path}: {exc}") from exc
    except ValidationError as exc:
        raise AdminError(f"{path} is not a valid roles file:\n{exc}") from exc


async def apply_roles_file(conn: Conn, spec: RolesFile, cause: dict[str, Any]) -> dict[str, int]:
    """Make the organization's mappings and rules exactly the file's."""
    org = spec.organization
    wanted = {_mapping_key(org, m): m for m in spec.group_mappings}
    existing = await conn.fetch(query("list_group_mappings"), org)
    removed = 0
    for row in existing:
        key = (row["group_id"], row["group_name"], row["scope_type"], row["scope_id"])
        if key not in wanted:
            await conn.fetchval(query("delete_group_mapping"), row["id"], cause)
            removed += 1
    for m in spec.group_mappings:
        scope = Scope.of(m.team, m.environment)
        await put_mapping(conn, org, m.group_id, m.group_name, scope, m.role, cause)
    rules = [r.model_dump() for r in spec.rules]
    await replace_rules(conn, org, rules, cause)
    return {"mappings": len(spec.group_mappings), "removed": removed, "rules": len(rules)}


def _mapping_key(org: str, m: MappingSpec) -> tuple[str | None, str | None, str, str]:
    scope = Scope.of(m.team, m.environment)
    return (m.group_id, m.group_name, scope.type, scope.id or org)


# ------------------------------------------------------------------------------------------
# Mappings, rules, direct roles, policies, approvals


async def put_mapping(
    conn: Conn,
    organization: str,
    group_id: str | None,
    group_name: str | None,
    scope: Scope,
    role: str,
    cause: dict[str, Any],
) -> int:
    if (group_id is None) == (group_name is None):
        raise AdminError("name the group by exactly one of --group-id or --group-name")
    mapping_id = await conn.fetchval(
        query("put_group_mapping"),
        organization,
        group_id,
        group_name,
        scope.type,
        scope.id or organization,
        role,
        cause,
    )
    return int(mapping_id)


async def delete_mapping(conn: Conn, mapping_id: int, cause: dict[str, Any]) -> bool:
    return bool(await conn.fetchval(query("delete_group_mapping"), mapping_id, cause))


async def replace_rules(
    conn: Conn, organization: str, rules: Sequence[dict[str, str]], cause: dict[str, Any]
) -> int:
    as_sql = [
        {"attribute": r["source_attribute"], "value": r["match_value"], "role": r["role"]}
        for r in rules
    ]
    return int(await conn.fetchval(query("replace_role_rules"), organization, as_sql, cause))


async def assign(conn: Conn, account: str, scope: Scope, role: str, cause: dict[str, Any]) -> None:
    await conn.fetchval(query("assign_role"), account, scope.type, scope.id, role, cause)


async def unassign(conn: Conn, account: str, scope: Scope, cause: dict[str, Any]) -> bool:
    found = await conn.fetchval(query("unassign_role"), account, scope.type, scope.id, cause)
    return bool(found)


async def update_policy(
    conn: Conn, organization: str, patch: dict[str, Any], cause: dict[str, Any]
) -> dict[str, Any]:
    if not patch:
        raise AdminError("nothing to change: give at least one setting")
    result: dict[str, Any] = await conn.fetchval(
        query("update_organization_settings"), organization, patch, cause
    )
    return result


async def decide(
    conn: Conn, account: str, scope: Scope, role: str, approve: bool, cause: dict[str, Any]
) -> bool:
    found = await conn.fetchval(
        query("decide_approval"), account, scope.type, scope.id, role, approve, cause
    )
    return bool(found)


async def account_roles(conn: Conn, account: str) -> dict[str, Any]:
    row = await conn.fetchrow(query("account_roles"), account)
    if row is None:
        raise AdminError(f"no account {account}")
    return dict(row)


async def deactivate_account(conn: Conn, account: str, cause: dict[str, Any]) -> dict[str, Any]:
    """By hand: deactivated and every credential revoked; sync will not reactivate it."""
    result: dict[str, Any] = await conn.fetchval(query("deactivate_account"), account, cause)
    return result


async def jit_provision(conn: Conn, organization: str, email: str) -> dict[str, Any]:
    row = await conn.fetchrow(query("jit_provision"), organization, email)
    assert row is not None  # the function always returns one row
    return dict(row)


async def disable_directory(
    conn: Conn, directory: str, cause: dict[str, Any], provider: str | None = None
) -> int:
    """Returns how many of its groups were removed. Without `provider`, the directory id
    must be known under exactly one provider (else refused)."""
    return int(await conn.fetchval(query("disable_directory"), directory, cause, provider))


async def enable_directory(
    conn: Conn, directory: str, cause: dict[str, Any], provider: str | None = None
) -> bool:
    return bool(await conn.fetchval(query("enable_directory"), directory, cause, provider))


# ------------------------------------------------------------------------------------------
# Revocation hooks


async def put_hook(conn: Conn, name: str, statement: str) -> None:
    """Store a revocation statement after proving it runs ($1 = text[] of account ids):
    it is executed once with an empty array inside a savepoint that is rolled back."""
    try:
        async with conn.transaction():
            await conn.execute(statement, [])
            raise _Probe
    except _Probe:
        pass
    except asyncpg.PostgresError as exc:
        raise AdminError(f"the statement fails with an empty account list: {exc}") from exc
    await conn.execute(query("put_revocation_hook"), name, statement)


class _Probe(Exception):
    """Raised to roll back the probe savepoint."""


# ------------------------------------------------------------------------------------------
# Audit chain


@dataclass(frozen=True, slots=True)
class ChainRow:
    seq: int
    prev_hash: str
    hash: str
    digest: str  # recomputed from the row's contents


@dataclass(frozen=True, slots=True)
class ChainReport:
    organization: str
    rows: int
    head: str | None
    problems: list[str]


GENESIS = "0" * 64


def check_chain(organization: str, rows: Sequence[ChainRow]) -> ChainReport:
    """Pure: every row's contents hash to its stored hash, each row names its predecessor's
    hash, and sequence numbers run 1..n without gaps."""
    problems: list[str] = []
    previous = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        if row.seq != expected_seq:
            problems.append(f"seq {row.seq}: expected seq {expected_seq} (a row is missing)")
        if row.prev_hash != previous:
            problems.append(f"seq {row.seq}: prev_hash does not match the previous row's hash")
        if row.digest != row.hash:
            problems.append(f"seq {row.seq}: contents do not match the stored hash (edited)")
        previous = row.hash
    return ChainReport(organization, len(rows), rows[-1].hash if rows else None, problems)


async def verify_audit(conn: Conn, organization: str | None) -> list[ChainReport]:
    if organization is None:
        organizations = [r[0] for r in await conn.fetch(query("audit_organizations"))]
    else:
        organizations = [organization]
    reports = []
    for org in organizations:
        rows = [ChainRow(**dict(r)) for r in await conn.fetch(query("audit_chain"), org)]
        reports.append(check_chain(org, rows))
    return reports
