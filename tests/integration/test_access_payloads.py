"""The JSON between the access functions and Python has one shape on both sides
(worker/access/payloads.py): real answers of the SQL functions read as their types, and a
key renamed in SQL fails where Python reads it instead of counting as 0 or None."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast, get_type_hints

import asyncpg
import pytest

from dsync.settings import Settings
from sql import function_files
from tests.access_support import person, user_created
from tests.support import envelope_of, produce
from worker.access import AccessSummary, admin, sync_all_access
from worker.access.admin import AdminError, Scope
from worker.access.payloads import (
    AccessContractError,
    CommandCause,
    OrganizationSettings,
    PolicyPatch,
)
from worker.main import run_worker
from worker.store import TxConn, connect

pytestmark = pytest.mark.db

CAUSE: CommandCause = {"command": "test", "actor": "pytest"}
ORG = "org_payloads"
ORGANIZATION = Scope("organization", None)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection set up as the worker's and the shell's (jsonb as Python values), with
    two active directory users of one organization."""
    conn = await connect(database_url)
    await conn.execute(
        """INSERT INTO dsync.directories (id, provider, organization_id, created_at, updated_at)
           VALUES ('dir_payloads', 'workos', $1, now(), now())""",
        ORG,
    )
    await conn.execute(
        """INSERT INTO dsync.users (id, provider, directory_id, organization_id, idp_id, email,
                                    state, created_at, updated_at)
           SELECT 'user_' || i, 'workos', 'dir_payloads', $1, 'idp_' || i,
                  'person' || i || '@example.com', 'active', now(), now()
           FROM generate_series(1, 2) AS i""",
        ORG,
    )
    try:
        yield conn
    finally:
        await conn.close()


async def _sync_all(conn: asyncpg.Connection) -> AccessSummary:
    """The rebuild's access step on a plain connection (the worker's is a pool's proxy of
    one: the same calls)."""
    return await sync_all_access(cast(TxConn, conn))


async def _account(conn: asyncpg.Connection) -> str:
    return str(await conn.fetchval("SELECT id FROM dsync.accounts ORDER BY id LIMIT 1"))


async def _session(conn: asyncpg.Connection, account: str) -> None:
    await conn.execute(
        "INSERT INTO dsync.sessions (id, account_id) VALUES ('session_1', $1)", account
    )


async def _replace_in_function_file(
    conn: asyncpg.Connection, file_name: str, old: str, new: str
) -> None:
    """Apply a function file with `old` (which must occur exactly once) replaced."""
    (file,) = [f for f in function_files() if f.name == file_name]
    assert file.sql.count(old) == 1, f"{old!r} is not once in {file_name}"
    await conn.execute(file.sql.replace(old, new))


async def test_the_answers_of_the_access_functions_read_as_their_types(
    conn: asyncpg.Connection,
) -> None:
    summary = await _sync_all(conn)
    assert (summary.created, summary.deactivated, summary.roles_changed) == (2, 0, 2)
    account = await _account(conn)
    await admin.assign(conn, account, Scope("team", "team_1"), "team_admin", CAUSE)

    roles = await admin.account_roles(conn, account)
    assert {(r["scope_type"], r["role"], r["sources"][0]["type"]) for r in roles["roles"]} == {
        ("organization", "member", "default"),
        ("team", "team_admin", "direct"),
    }
    settings = await admin.update_policy(conn, ORG, {"default_team_id": "team_1"}, CAUSE)
    assert settings["default_team_id"] == "team_1"
    await _session(conn, account)
    assert await admin.deactivate_account(conn, account, CAUSE) == {
        "account_id": account,
        "revoked": {"session": 1, "api_key": 0, "device_token": 0},
    }


async def test_a_renamed_count_of_sync_access_fails_the_read(conn: asyncpg.Connection) -> None:
    await _replace_in_function_file(
        conn, "06_access_accounts.sql", "'roles_changed', v_roles", "'roles_recomputed', v_roles"
    )
    with pytest.raises(AccessContractError, match="roles_changed"):
        await _sync_all(conn)


@pytest.mark.kafka
async def test_the_worker_stops_on_a_renamed_key_and_commits_nothing(
    conn: asyncpg.Connection, worker_settings: Settings
) -> None:
    """A contract broken between Python and SQL is a bug: the worker stops loudly; it does
    not dead-letter the event, store its offset or keep the directory change."""
    await _replace_in_function_file(
        conn, "06_access_accounts.sql", "'roles_changed', v_roles", "'roles_recomputed', v_roles"
    )
    event = envelope_of(user_created(person("u_ada")))
    await produce(
        worker_settings.require_bootstrap_servers(), worker_settings.events_topic, [event]
    )

    with pytest.raises(BaseException) as stopped:  # noqa: PT011  # the group is checked below
        await asyncio.wait_for(run_worker(worker_settings, asyncio.Event()), timeout=40)

    raised = stopped.value
    assert isinstance(raised, AccessContractError) or (
        isinstance(raised, BaseExceptionGroup) and stopped.group_contains(AccessContractError)
    ), repr(raised)
    counts = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM dsync_internal.dead_letters) AS dead,
                  (SELECT count(*) FROM dsync_internal.consumer_offsets) AS offsets,
                  (SELECT count(*) FROM dsync.users WHERE id = 'u_ada') AS users"""
    )
    assert counts is not None
    assert dict(counts) == {"dead": 0, "offsets": 0, "users": 0}


async def test_a_renamed_credential_kind_fails_the_read(conn: asyncpg.Connection) -> None:
    await _sync_all(conn)
    account = await _account(conn)
    await _session(conn, account)
    await _replace_in_function_file(
        conn, "04_access_credentials.sql", "'session', (SELECT", "'sessions', (SELECT"
    )
    with pytest.raises(AccessContractError, match="sessions"):
        await admin.deactivate_account(conn, account, CAUSE)


async def test_a_renamed_key_of_a_role_source_fails_the_read(conn: asyncpg.Connection) -> None:
    await _replace_in_function_file(
        conn, "05_access_roles.sql", "'type', 'direct', 'granted_by'", "'type', 'direct', 'by'"
    )
    await _sync_all(conn)
    account = await _account(conn)
    await admin.assign(conn, account, Scope("team", "team_1"), "team_admin", CAUSE)
    with pytest.raises(AccessContractError, match="granted_by"):
        await admin.account_roles(conn, account)


async def test_a_misspelled_policy_setting_is_refused_not_ignored(
    conn: asyncpg.Connection,
) -> None:
    """jsonb_populate_record in update_organization_settings ignores unknown keys: without
    the check, the command would succeed and change nothing."""
    before = await conn.fetchval("SELECT count(*) FROM dsync.audit_log")
    with pytest.raises(AdminError, match="require_aproval"):
        await admin.update_policy(conn, ORG, {"require_aproval": True}, CAUSE)  # type: ignore[typeddict-unknown-key]
    assert await conn.fetchval("SELECT count(*) FROM dsync.audit_log") == before


async def test_the_policy_types_name_the_settings_table_s_columns(
    conn: asyncpg.Connection,
) -> None:
    columns = {
        row["column_name"]
        for row in await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'dsync' AND table_name = 'organization_settings'"
        )
    }
    assert set(get_type_hints(OrganizationSettings)) == columns
    assert set(get_type_hints(PolicyPatch)) == columns - {"organization_id", "updated_at"}
