"""`dsync scim`: run the SCIM server, connect a directory, rotate and revoke its tokens.

`connect` creates a SCIM directory for an organization and prints its base URL and a
bearer token, once: only its sha256 is stored. `token rotate` adds a token while the old
ones keep working (switch the IdP over, then `token revoke` retires the old ones)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

from dsync.settings import Settings
from dsync.shell.command import BROKER, DATABASE, Commands, add_command
from sql import query


def register(commands: Commands) -> None:
    scim = add_command(
        commands,
        "scim",
        "run the SCIM 2.0 server (default 127.0.0.1:8001), or manage its directories",
        _serve,
        detail="Writes become events on the events topic, applied by the worker.",
        needs=(DATABASE, BROKER),
        reads=(
            "DSYNC_SCIM_HOST, DSYNC_SCIM_PORT, DSYNC_SCIM_PUBLIC_URL",
            "DSYNC_SCIM_COMMIT_TIMEOUT_SECONDS, DSYNC_EVENTS_TOPIC, DSYNC_MAX_BODY_BYTES",
        ),
    )
    scim.add_argument("--host", help="instead of $DSYNC_SCIM_HOST")
    scim.add_argument("--port", type=int, help="instead of $DSYNC_SCIM_PORT")
    sub = scim.add_subparsers(dest="action", metavar="ACTION")
    connect = _parser(
        sub,
        "connect",
        "create a SCIM directory for an organization; print its base URL and a token (once)",
    )
    connect.add_argument("--organization", required=True, help="the organization it provisions")
    connect.add_argument("--name", help="a name for the directory")
    connect.set_defaults(run=_connect)
    token = _parser(sub, "token", "rotate or revoke a SCIM directory's bearer tokens")
    verbs = token.add_subparsers(dest="verb", required=True)
    rotate = _parser(verbs, "rotate", "issue a new token; the old ones keep working until revoked")
    rotate.add_argument("--directory", required=True, help="the SCIM directory id")
    rotate.set_defaults(run=_rotate)
    revoke = _parser(verbs, "revoke", "revoke one token, or every token but the newest")
    revoke.add_argument("--directory", required=True, help="the SCIM directory id")
    revoke.add_argument("--token-id", help="the token to revoke (default: all but the newest)")
    revoke.set_defaults(run=_revoke)
    _register_profile(sub)


def _register_profile(sub: Commands) -> None:
    profile = _parser(sub, "profile", "set or show a SCIM directory's provisioning profile")
    verbs = profile.add_subparsers(dest="verb", required=True)
    put = _parser(verbs, "set", "declare the directory's custom extension and its rules (YAML)")
    put.add_argument("--directory", required=True, help="the SCIM directory id")
    put.add_argument("file", help="the profile, YAML (see docs/scim-profiles.md)")
    put.set_defaults(run=_set_profile)
    show = _parser(verbs, "show", "print the directory's profile as JSON")
    show.add_argument("--directory", required=True, help="the SCIM directory id")
    show.set_defaults(run=_show_profile)


def _parser(parent: Commands, name: str, summary: str) -> argparse.ArgumentParser:
    description = f"{summary[0].upper()}{summary[1:]}. Needs {DATABASE}."
    return parent.add_parser(name, help=summary, description=description)


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    from scim_server.main import main as scim

    changes: dict[str, Any] = {}
    if args.host is not None:
        changes["scim_host"] = args.host
    if args.port is not None:
        changes["scim_port"] = args.port
    scim(settings.model_copy(update=changes))


def _connect(args: argparse.Namespace, settings: Settings) -> None:
    from scim_server.tokens import new_token

    directory_id = f"scim_directory_{uuid.uuid4().hex}"
    token, digest = new_token()

    async def run(conn: Any) -> dict[str, Any]:
        async with conn.transaction():
            await conn.execute(
                query("scim_create_directory"), directory_id, args.organization, args.name
            )
            token_id = await conn.fetchval(
                query("scim_add_token"), _token_id(), directory_id, digest
            )
        return {
            "directory_id": directory_id,
            "organization_id": args.organization,
            "base_url": f"{settings.scim_base_url()}/scim/v2/directories/{directory_id}",
            "token_id": token_id,
            "token": token,
        }

    _print(_with_connection(settings, run))


def _rotate(args: argparse.Namespace, settings: Settings) -> None:
    from scim_server.tokens import new_token

    token, digest = new_token()

    async def run(conn: Any) -> dict[str, Any]:
        token_id = await conn.fetchval(query("scim_add_token"), _token_id(), args.directory, digest)
        if token_id is None:
            sys.exit(f"dsync scim token rotate: no SCIM directory {args.directory}")
        return {"directory_id": args.directory, "token_id": token_id, "token": token}

    _print(_with_connection(settings, run))


def _revoke(args: argparse.Namespace, settings: Settings) -> None:
    async def run(conn: Any) -> dict[str, Any]:
        rows = await conn.fetch(query("scim_revoke_tokens"), args.directory, args.token_id)
        return {"directory_id": args.directory, "revoked": [row["id"] for row in rows]}

    _print(_with_connection(settings, run))


def _set_profile(args: argparse.Namespace, settings: Settings) -> None:
    import yaml
    from pydantic import ValidationError

    from schemas.scim_profile import Profile

    try:
        with open(args.file, encoding="utf-8") as file:
            profile = Profile.model_validate(yaml.safe_load(file))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        sys.exit(f"dsync scim profile set: {args.file} is not a valid profile:\n{exc}")
    stored = profile.model_dump(mode="json", exclude_defaults=True)

    async def run(conn: Any) -> dict[str, Any]:
        if await conn.fetchval(query("scim_set_profile"), args.directory, stored) is None:
            sys.exit(f"dsync scim profile set: no SCIM directory {args.directory}")
        return {"directory_id": args.directory, "profile": stored}

    _print(_with_connection(settings, run))


def _show_profile(args: argparse.Namespace, settings: Settings) -> None:
    async def run(conn: Any) -> dict[str, Any]:
        found = await conn.fetchval(query("scim_profile"), args.directory)
        return {"directory_id": args.directory, "profile": found}

    _print(_with_connection(settings, run))


def _token_id() -> str:
    return f"scim_token_{uuid.uuid4().hex[:16]}"


def _with_connection(settings: Settings, run: Any) -> Any:
    from worker.store import connect

    async def main() -> Any:
        conn = await connect(settings.require_database_url())
        try:
            return await run(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def _print(value: dict[str, Any]) -> None:
    print(json.dumps(value, indent=2))
