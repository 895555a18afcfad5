"""The access model's admin side through the real `dsync` command, the audit chain check,
and the change feed on the real broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.access_support import (
    AccessHarness,
    added,
    group_created,
    person,
    run_dsync,
    team,
    user_created,
    user_deleted,
)
from tests.support import ORGANIZATION, consume_all

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def test_audit_chain_verifies_and_dsync_audit_verify_detects_an_edited_row(
    access: AccessHarness, database_url: str
) -> None:
    ada, bob = person("u_ada"), person("u_bob")
    admins = team("g_admins", "admins")
    await access.map_group("admins", "admin")
    await access.send(user_created(ada), user_created(bob), group_created(admins))
    await access.send(added(ada, admins, 1_700_000_200), user_deleted(bob))
    rows = await access.db.fetchval("SELECT count(*) FROM dsync.audit_log")
    assert rows >= 8

    code, out, err = await run_dsync(database_url, "audit", "verify")
    assert code == 0, err
    (report,) = json.loads(out)
    assert (report["organization"], report["rows"], report["problems"]) == (ORGANIZATION, rows, [])

    with pytest.raises(Exception, match="append-only"):
        await access.db.execute("UPDATE dsync.audit_log SET action = 'x' WHERE seq = 3")
    # Someone with enough rights to bypass the triggers edits a row.
    async with access.db.transaction():
        await access.db.execute("SET LOCAL session_replication_role = replica")
        await access.db.execute(
            'UPDATE dsync.audit_log SET details = details || \'{"new_role": "owner"}\''
            " WHERE organization_id = $1 AND seq = 3",
            ORGANIZATION,
        )

    code, out, _ = await run_dsync(database_url, "audit", "verify")
    assert code == 1
    (report,) = json.loads(out)
    assert report["problems"] == ["seq 3: contents do not match the stored hash (edited)"]


async def test_audit_verify_detects_a_deleted_row(access: AccessHarness, database_url: str) -> None:
    await access.send(user_created(person("u_ada")), user_created(person("u_bob")))
    async with access.db.transaction():
        await access.db.execute("SET LOCAL session_replication_role = replica")
        await access.db.execute("DELETE FROM dsync.audit_log WHERE seq = 2")

    code, out, _ = await run_dsync(database_url, "audit", "verify", "--organization", ORGANIZATION)

    assert code == 1
    (report,) = json.loads(out)
    assert "seq 3: expected seq 2 (a row is missing)" in report["problems"]
    assert "seq 3: prev_hash does not match the previous row's hash" in report["problems"]


async def test_access_changes_are_published_to_the_changes_topic(access: AccessHarness) -> None:
    ada = person("u_ada")
    await access.send(user_created(ada))
    await access.send(user_deleted(ada))
    account = (await access.account("u_ada"))["id"]

    records = await consume_all(
        access.settings.require_bootstrap_servers(), access.settings.changes_topic, 4
    )

    messages = [json.loads(r.value) for r in records]
    assert [m["type"] for m in messages] == [
        "account.created",
        "role.changed",
        "account.deprovisioned",
        "role.changed",
    ]
    assert {r.key.decode() for r in records} == {account}
    assert messages[1]["data"]["roles"] == [
        {
            "scope_type": "organization",
            "scope_id": ORGANIZATION,
            "role": "member",
            "sources": [{"type": "default"}],
        }
    ]
    assert messages[3]["data"]["roles"] == []
    assert messages[2]["cause"]["event_type"] == "dsync.user.deleted"
    assert dict(records[2].headers)["dsync-change-type"] == b"account.deprovisioned"


async def test_roles_file_applied_with_dsync_roles_apply_sets_mappings_and_rules(
    access: AccessHarness, database_url: str, tmp_path: Path
) -> None:
    ada, bob = person("u_ada", attributes={"department": "finance"}), person("u_bob")
    admins = team("g_admins", "ai-admins")
    await access.send(user_created(ada), user_created(bob), group_created(admins))
    await access.send(added(bob, admins, 1_700_000_200))
    rules = tmp_path / "roles.yaml"
    rules.write_text(
        f"""
organization: {ORGANIZATION}
group_mappings:
  - group_name: ai-admins
    role: admin
  - group_name: ai-admins
    team: team_ml
    role: team_admin
rules:
  - source_attribute: department
    match_value: finance
    role: viewer
"""
    )

    code, out, err = await run_dsync(database_url, "roles", "apply", str(rules))
    assert code == 0, err
    assert json.loads(out) == {"mappings": 2, "removed": 0, "rules": 1}

    bob_account = (await access.account("u_bob"))["id"]
    code, out, err = await run_dsync(database_url, "roles", "show", "--account", bob_account)
    assert code == 0, err
    shown = json.loads(out)
    assert [(r["scope_type"], r["role"]) for r in shown["roles"]] == [
        ("organization", "admin"),
        ("team", "team_admin"),
    ]
    assert (await access.org_role((await access.account("u_ada"))["id"]))[0] == "viewer"
    audit = await access.db.fetchrow(
        "SELECT cause FROM dsync.audit_log WHERE action = 'rules.replaced'"
    )
    assert audit is not None
    assert audit["cause"] == {"command": "roles apply", "actor": "test-admin"}

    # Applying a file without the team mapping removes it (the file is the whole truth).
    team_mapping = "    team: team_ml\n    role: team_admin\n"
    environment_mapping = "    environment: prod\n    role: access\n"
    rules.write_text(rules.read_text().replace(team_mapping, environment_mapping))
    code, out, err = await run_dsync(database_url, "roles", "apply", str(rules))
    assert code == 0, err
    assert json.loads(out)["removed"] == 1
    assert ("team", "team_ml") not in await access.roles(bob_account)
    assert ("environment", "prod") in await access.roles(bob_account)


async def test_dsync_roles_refuses_with_the_reason_and_changes_nothing(
    access: AccessHarness, database_url: str
) -> None:
    code, _, err = await run_dsync(
        database_url,
        "roles",
        "policy",
        "--organization",
        ORGANIZATION,
        "--require-group-admin",
        "on",
    )
    assert code == 1
    assert "no directory group holds the admin role" in err

    code, _, err = await run_dsync(
        database_url,
        "roles",
        "map",
        "--organization",
        ORGANIZATION,
        "--group-name",
        "x",
        "--role",
        "emperor",
    )
    assert code == 1
    assert "unknown role emperor" in err
    assert await access.db.fetchval("SELECT count(*) FROM dsync.group_role_mappings") == 0
    assert await access.db.fetchval(
        "SELECT require_group_admin FROM dsync.organization_settings WHERE organization_id = $1",
        ORGANIZATION,
    ) in (None, False)
