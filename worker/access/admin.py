"""Administration of the access model: group mappings, attribute rules, direct roles,
policies, approvals, JIT provisioning, directory sync switches and revocation hooks. Each
call runs the SQL function that owns the rule (sql/functions/07_access_administration.sql
and 08_access_directories.sql), so a change is audited and re-evaluates exactly the
accounts it can touch. The caller owns the transaction and passes a cause naming the
command and its actor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic import ValidationError

from sql import query
from worker.access.payloads import (
    DEACTIVATION,
    EFFECTIVE_ROLES,
    POLICY_PATCH,
    SETTINGS,
    CommandCause,
    Deactivation,
    OrganizationSettings,
    PolicyPatch,
    RoleRule,
    RuleJson,
    ScopeType,
    read,
    shape,
)

Conn = asyncpg.Connection


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
# Mappings, rules, direct roles, policies, approvals


async def put_mapping(
    conn: Conn,
    organization: str,
    group_id: str | None,
    group_name: str | None,
    scope: Scope,
    role: str,
    cause: CommandCause,
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


async def delete_mapping(conn: Conn, mapping_id: int, cause: CommandCause) -> bool:
    return bool(await conn.fetchval(query("delete_group_mapping"), mapping_id, cause))


async def replace_rules(
    conn: Conn, organization: str, rules: Sequence[RoleRule], cause: CommandCause
) -> int:
    """The organization's attribute rules become `rules`, in this order."""
    as_sql: list[RuleJson] = [
        {"attribute": r["source_attribute"], "value": r["match_value"], "role": r["role"]}
        for r in rules
    ]
    return int(await conn.fetchval(query("replace_role_rules"), organization, as_sql, cause))


async def assign(conn: Conn, account: str, scope: Scope, role: str, cause: CommandCause) -> None:
    await conn.fetchval(query("assign_role"), account, scope.type, scope.id, role, cause)


async def unassign(conn: Conn, account: str, scope: Scope, cause: CommandCause) -> bool:
    found = await conn.fetchval(query("unassign_role"), account, scope.type, scope.id, cause)
    return bool(found)


async def update_policy(
    conn: Conn, organization: str, patch: PolicyPatch, cause: CommandCause
) -> OrganizationSettings:
    """Refused before SQL sees it when the patch is empty or names a setting that does not
    exist (SQL's jsonb_populate_record would ignore it: a typo would change nothing)."""
    if not patch:
        raise AdminError("nothing to change: give at least one setting")
    try:
        POLICY_PATCH.validate_python(patch)
    except ValidationError as exc:
        raise AdminError(f"not a policy patch: {shape(exc)}") from None
    result = await conn.fetchval(query("update_organization_settings"), organization, patch, cause)
    return read(SETTINGS, result, "update_organization_settings' result")


async def decide(
    conn: Conn, account: str, scope: Scope, role: str, approve: bool, cause: CommandCause
) -> bool:
    found = await conn.fetchval(
        query("decide_approval"), account, scope.type, scope.id, role, approve, cause
    )
    return bool(found)


async def account_roles(conn: Conn, account: str) -> dict[str, Any]:
    """The account's row with its effective roles and their sources (validated)."""
    row = await conn.fetchrow(query("account_roles"), account)
    if row is None:
        raise AdminError(f"no account {account}")
    roles = read(EFFECTIVE_ROLES, row["roles"], "account_roles' roles")
    return {**dict(row), "roles": roles}


async def deactivate_account(conn: Conn, account: str, cause: CommandCause) -> Deactivation:
    """By hand: deactivated and every credential revoked; sync will not reactivate it."""
    result = await conn.fetchval(query("deactivate_account"), account, cause)
    return read(DEACTIVATION, result, "deactivate_account's result")


async def jit_provision(conn: Conn, organization: str, email: str) -> dict[str, Any]:
    row = await conn.fetchrow(query("jit_provision"), organization, email)
    assert row is not None  # the function always returns one row
    return dict(row)


async def disable_directory(
    conn: Conn, directory: str, cause: CommandCause, provider: str | None = None
) -> int:
    """Returns how many of its groups were removed. Without `provider`, the directory id
    must be known under exactly one provider (else refused)."""
    return int(await conn.fetchval(query("disable_directory"), directory, cause, provider))


async def enable_directory(
    conn: Conn, directory: str, cause: CommandCause, provider: str | None = None
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
