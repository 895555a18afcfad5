"""`dsync roles|accounts|directories|audit|hooks`: the access model's admin commands.
Each runs in one transaction and prints JSON; refusals (a blocked policy, an unknown role)
exit 1 with the reason."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, get_args

import asyncpg

from dsync.settings import Settings
from dsync.shell.command import Commands, actor
from schemas.envelope import Source
from sql import query
from worker.access import admin
from worker.access.admin import AdminError, Scope
from worker.access.audit_chain import verify_audit
from worker.access.payloads import CommandCause, PolicyPatch
from worker.access.rules_file import apply_roles_file, load_roles_file
from worker.store import connect

COMMANDS = ("roles", "accounts", "directories", "audit", "hooks")

Handler = Callable[[asyncpg.Connection, argparse.Namespace, CommandCause], Awaitable[Any]]


def register(commands: Commands) -> None:
    roles = commands.add_parser("roles", help="role mappings, rules, direct roles, policies")
    sub = roles.add_subparsers(dest="action", required=True)
    mapping = sub.add_parser("map", help="map a directory group to a role at a scope")
    _organization(mapping)
    group = mapping.add_mutually_exclusive_group(required=True)
    group.add_argument("--group-id")
    group.add_argument("--group-name", help="case-sensitive; follows renames")
    _role_and_scope(mapping)
    unmap = sub.add_parser("unmap", help="delete a group mapping")
    unmap.add_argument("--id", type=int, required=True)
    _organization(sub.add_parser("mappings", help="list an organization's group mappings"))
    _organization(sub.add_parser("rules", help="list an organization's attribute rules"))
    apply = sub.add_parser("apply", help="make mappings and rules exactly a YAML file's")
    apply.add_argument("file", type=Path)
    assign = sub.add_parser("assign", help="assign a role directly")
    _account(assign)
    _role_and_scope(assign)
    unassign = sub.add_parser("unassign", help="remove a direct role")
    _account(unassign)
    _scope(unassign)
    _account(sub.add_parser("show", help="an account's effective roles and their sources"))
    policy = sub.add_parser("policy", help="change an organization's settings and policies")
    _organization(policy)
    for flag in ("require-group-admin", "require-approval", "deprovision-without-groups"):
        policy.add_argument(f"--{flag}", choices=("on", "off"))
    policy.add_argument("--default-role")
    policy.add_argument("--default-team")
    policy.add_argument("--ranks", help="organization roles, most permissive first (a,b,c)")
    policy.add_argument("--elevated", help="roles that need approval when required (a,b)")
    approvals = sub.add_parser("approvals", help="list role approvals")
    approvals.add_argument("--organization")
    approvals.add_argument("--status", choices=("pending", "approved", "rejected"))
    for verb in ("approve", "reject"):
        decision = sub.add_parser(verb, help=f"{verb} an elevated role hinted by the IdP")
        _account(decision)
        _role_and_scope(decision)

    accounts = commands.add_parser("accounts", help="accounts (JIT provisioning)")
    sub = accounts.add_subparsers(dest="action", required=True)
    jit = sub.add_parser("jit", help="what the application calls on a first SSO login")
    _organization(jit)
    jit.add_argument("--email", required=True)
    _account(sub.add_parser("deactivate", help="deactivate by hand, revoking every credential"))

    directories = commands.add_parser("directories", help="turn a directory's sync off or on")
    sub = directories.add_subparsers(dest="action", required=True)
    for verb in ("disable", "enable"):
        switch = sub.add_parser(verb)
        switch.add_argument("directory")
        # Two providers may use the same directory id; needed only when they do.
        switch.add_argument("--provider", choices=get_args(Source))

    audit = commands.add_parser("audit", help="the audit log")
    sub = audit.add_subparsers(dest="action", required=True)
    verify = sub.add_parser("verify", help="check the hash chain (exit 1 when broken)")
    verify.add_argument("--organization")

    hooks = commands.add_parser("hooks", help="SQL run when accounts are deprovisioned")
    sub = hooks.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="$1 is the text[] of deprovisioned account ids")
    add.add_argument("name")
    add.add_argument("--sql", required=True)
    sub.add_parser("list")
    sub.add_parser("remove").add_argument("name")

    for parser in (roles, accounts, directories, audit, hooks):
        parser.set_defaults(run=run)


def _organization(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--organization", required=True)


def _account(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", required=True)


def _scope(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--team")
    scope.add_argument("--environment")


def _role_and_scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", required=True)
    _scope(parser)


def run(args: argparse.Namespace, settings: Settings) -> None:
    handler = _HANDLERS[(args.command, args.action)]
    cause: CommandCause = {"command": f"{args.command} {args.action}", "actor": actor()}
    try:
        result = asyncio.run(_in_transaction(settings.require_database_url(), handler, args, cause))
    except AdminError as exc:
        sys.exit(f"dsync {args.command} {args.action}: {exc}")
    except asyncpg.PostgresError as exc:
        sys.exit(f"dsync {args.command} {args.action}: refused: {exc}")
    print(json.dumps(result, indent=2, default=str))
    if args.command == "audit" and any(report["problems"] for report in result):
        sys.exit(1)


async def _in_transaction(
    database_url: str, handler: Handler, args: argparse.Namespace, cause: CommandCause
) -> Any:
    conn = await connect(database_url)
    try:
        async with conn.transaction():
            return await handler(conn, args, cause)
    finally:
        await conn.close()


def _scope_of(args: argparse.Namespace) -> Scope:
    return Scope.of(args.team, args.environment)


async def _map(conn: asyncpg.Connection, args: argparse.Namespace, cause: CommandCause) -> Any:
    mapping_id = await admin.put_mapping(
        conn, args.organization, args.group_id, args.group_name, _scope_of(args), args.role, cause
    )
    return {"mapping_id": mapping_id}


async def _policy(conn: asyncpg.Connection, args: argparse.Namespace, cause: CommandCause) -> Any:
    patch: PolicyPatch = {}
    if args.require_group_admin:
        patch["require_group_admin"] = args.require_group_admin == "on"
    if args.require_approval:
        patch["require_role_approval"] = args.require_approval == "on"
    if args.deprovision_without_groups:
        patch["deprovision_without_groups"] = args.deprovision_without_groups == "on"
    if args.default_role:
        patch["default_role"] = args.default_role
    if args.default_team:
        patch["default_team_id"] = args.default_team
    if args.ranks:
        patch["role_ranks"] = [r.strip() for r in args.ranks.split(",") if r.strip()]
    if args.elevated:
        patch["elevated_roles"] = [r.strip() for r in args.elevated.split(",") if r.strip()]
    return await admin.update_policy(conn, args.organization, patch, cause)


async def _verify(conn: asyncpg.Connection, args: argparse.Namespace, _: CommandCause) -> Any:
    reports = await verify_audit(conn, args.organization)
    return [
        {"organization": r.organization, "rows": r.rows, "head": r.head, "problems": r.problems}
        for r in reports
    ]


async def _rows(conn: asyncpg.Connection, sql_name: str, *params: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(query(sql_name), *params)]


_HANDLERS: dict[tuple[str, str], Handler] = {
    ("roles", "map"): _map,
    ("roles", "unmap"): lambda c, a, cause: admin.delete_mapping(c, a.id, cause),
    ("roles", "mappings"): lambda c, a, _: _rows(c, "list_group_mappings", a.organization),
    ("roles", "rules"): lambda c, a, _: _rows(c, "list_role_rules", a.organization),
    ("roles", "apply"): lambda c, a, cause: apply_roles_file(c, load_roles_file(a.file), cause),
    ("roles", "assign"): lambda c, a, cause: admin.assign(
        c, a.account, _scope_of(a), a.role, cause
    ),
    ("roles", "unassign"): lambda c, a, cause: admin.unassign(c, a.account, _scope_of(a), cause),
    ("roles", "show"): lambda c, a, _: admin.account_roles(c, a.account),
    ("roles", "policy"): _policy,
    ("roles", "approvals"): lambda c, a, _: _rows(c, "list_approvals", a.organization, a.status),
    ("roles", "approve"): lambda c, a, cause: admin.decide(
        c, a.account, _scope_of(a), a.role, True, cause
    ),
    ("roles", "reject"): lambda c, a, cause: admin.decide(
        c, a.account, _scope_of(a), a.role, False, cause
    ),
    ("accounts", "jit"): lambda c, a, _: admin.jit_provision(c, a.organization, a.email),
    ("accounts", "deactivate"): lambda c, a, cause: admin.deactivate_account(c, a.account, cause),
    ("directories", "disable"): lambda c, a, cause: admin.disable_directory(
        c, a.directory, cause, a.provider
    ),
    ("directories", "enable"): lambda c, a, cause: admin.enable_directory(
        c, a.directory, cause, a.provider
    ),
    ("audit", "verify"): _verify,
    ("hooks", "add"): lambda c, a, _: admin.put_hook(c, a.name, a.sql),
    ("hooks", "list"): lambda c, a, _: _rows(c, "list_revocation_hooks"),
    ("hooks", "remove"): lambda c, a, _: _rows(c, "delete_revocation_hook", a.name),
}
