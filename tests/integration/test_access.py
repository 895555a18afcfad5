"""The access model, one test per behaviour the seed documents promise (../shared/seeds/
000 Baseten, 001 Base44, 002 SafeBase, 003 Octomil, 004 LLM Gateway), through the real
broker, the real worker and PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

import asyncpg
import pytest

from tests.access_support import (
    CAUSE,
    AccessHarness,
    added,
    group_created,
    group_deleted,
    group_updated,
    person,
    polis_user_event,
    removed,
    stytch,
    team,
    user_created,
    user_deleted,
    user_updated,
)
from tests.support import ORGANIZATION, directory_event
from worker.access import admin
from worker.access.admin import Scope
from worker.replay import rebuild

pytestmark = [pytest.mark.db, pytest.mark.kafka]

ORG = ("organization", ORGANIZATION)


# --- 000 Baseten -----------------------------------------------------------------------


async def test_jit_user_joins_with_member_role_and_default_team(access: AccessHarness) -> None:
    await access.admin(admin.update_policy, ORGANIZATION, {"default_team_id": "team_1"}, CAUSE)

    jit = await access.admin(admin.jit_provision, ORGANIZATION, "New.Person@Example.com")

    assert jit["created"]
    assert jit["status"] == "active"
    assert await access.roles(jit["account_id"]) == {
        ORG: "member",
        ("team", "team_1"): "team_member",
    }
    again = await access.admin(admin.jit_provision, ORGANIZATION, "new.person@example.com")
    assert (again["account_id"], again["created"]) == (jit["account_id"], False)


async def test_jit_user_has_directory_group_memberships_backfilled(access: AccessHarness) -> None:
    ada = person("u_ada", "ada@example.com")
    admins = team("g_admins", "admins")
    await access.map_group("admins", "admin")
    await access.send(user_created(ada), group_created(admins), added(ada, admins, 1_700_000_200))
    # The directory created an account; JIT for the same person finds it.
    directory_account = (await access.account("u_ada"))["id"]

    jit = await access.admin(admin.jit_provision, ORGANIZATION, "ADA@example.com")

    assert (jit["account_id"], jit["created"]) == (directory_account, False)
    assert await access.roles(directory_account) == {ORG: "admin"}


async def test_jit_before_the_directory_backfills_groups_when_they_sync(
    access: AccessHarness,
) -> None:
    await access.map_group("admins", "admin")
    jit = await access.admin(admin.jit_provision, ORGANIZATION, "grace@example.com")
    assert await access.roles(jit["account_id"]) == {ORG: "member"}

    grace, admins = person("u_grace", "Grace@Example.com"), team("g_admins", "admins")
    await access.send(
        user_created(grace), group_created(admins), added(grace, admins, 1_700_000_200)
    )

    account = await access.account("u_grace")
    assert account["id"] == jit["account_id"]  # linked, not duplicated
    assert account["created_via"] == "jit"
    assert await access.roles(account["id"]) == {ORG: "admin"}


async def test_directory_group_with_admin_role_grants_admin_to_its_members(
    access: AccessHarness,
) -> None:
    ada, bob = person("u_ada"), person("u_bob")
    admins = team("g_admins", "admins")
    await access.send(user_created(ada), user_created(bob), group_created(admins))
    await access.send(added(ada, admins, 1_700_000_200))

    await access.map_group("admins", "admin")

    assert await access.roles((await access.account("u_ada"))["id"]) == {ORG: "admin"}
    assert await access.roles((await access.account("u_bob"))["id"]) == {ORG: "member"}


async def test_team_role_from_a_group_applies_only_to_that_team(access: AccessHarness) -> None:
    ada = person("u_ada")
    platform, data = team("g_platform", "platform"), team("g_data", "data")
    await access.map_group("platform", "team_admin", Scope("team", "team_platform"))
    await access.map_group("data", "team_member", Scope("team", "team_data"))
    await access.send(
        user_created(ada),
        group_created(platform),
        group_created(data),
        added(ada, platform, 1_700_000_200),
        added(ada, data, 1_700_000_201),
    )

    assert await access.roles((await access.account("u_ada"))["id"]) == {
        ORG: "member",
        ("team", "team_platform"): "team_admin",
        ("team", "team_data"): "team_member",
    }


async def test_directory_group_grants_restricted_environment_access(
    access: AccessHarness,
) -> None:
    ada, bob = person("u_ada"), person("u_bob")
    prod = team("g_prod", "prod-operators")
    await access.map_group("prod-operators", "access", Scope("environment", "production"))
    await access.send(user_created(ada), user_created(bob), group_created(prod))
    await access.send(added(ada, prod, 1_700_000_200))

    assert ("environment", "production") in await access.roles(
        (await access.account("u_ada"))["id"]
    )
    assert ("environment", "production") not in await access.roles(
        (await access.account("u_bob"))["id"]
    )


async def test_effective_role_is_the_union_and_the_more_permissive_role_wins(
    access: AccessHarness,
) -> None:
    ada = person("u_ada")
    viewers = team("g_viewers", "viewers")
    await access.map_group("viewers", "viewer")
    await access.send(user_created(ada), group_created(viewers), added(ada, viewers, 1_700_000_200))
    account = (await access.account("u_ada"))["id"]
    assert await access.org_role(account) == (
        "viewer",
        [{"type": "group", "group_id": "g_viewers", "group_name": "viewers", "mapping_id": 1}],
    )

    await access.admin(admin.assign, account, Scope("organization", None), "admin", CAUSE)

    role, sources = await access.org_role(account)
    assert role == "admin"  # groups never deny: the viewer group does not lower it
    assert sources == [{"type": "direct", "granted_by": "pytest"}]


async def test_each_role_is_listed_with_its_sources_as_groups_are_added_removed_and_remapped(
    access: AccessHarness,
) -> None:
    ada = person("u_ada")
    admins, ops = team("g_admins", "admins"), team("g_ops", "ops")
    admins_mapping = await access.map_group("admins", "admin")
    ops_mapping = await access.map_group("ops", "admin")
    await access.send(user_created(ada), group_created(admins), group_created(ops))
    account = (await access.account("u_ada"))["id"]

    def group_source(group_id: str, name: str, mapping: int) -> dict[str, object]:
        return {"type": "group", "group_id": group_id, "group_name": name, "mapping_id": mapping}

    await access.send(added(ada, admins, 1_700_000_200))
    assert await access.org_role(account) == (
        "admin",
        [group_source("g_admins", "admins", admins_mapping)],
    )

    await access.send(added(ada, ops, 1_700_000_201))
    role, sources = await access.org_role(account)
    assert role == "admin"
    assert sorted(s["group_id"] for s in sources) == ["g_admins", "g_ops"]

    await access.send(removed(ada, admins, 1_700_000_202))
    assert await access.org_role(account) == ("admin", [group_source("g_ops", "ops", ops_mapping)])

    await access.map_group("ops", "viewer")  # remapped
    assert await access.org_role(account) == ("viewer", [group_source("g_ops", "ops", ops_mapping)])

    renamed = team("g_ops", "operations", updated_at=1_700_000_400)
    await access.send(group_updated(renamed))  # the mapping names "ops": no longer matches
    assert await access.org_role(account) == ("member", [{"type": "default"}])


async def test_deleting_a_user_in_the_idp_deactivates_the_account_and_revokes_sessions_and_api_keys(
    access: AccessHarness,
) -> None:
    ada = person("u_ada")
    await access.send(user_created(ada))
    account = (await access.account("u_ada"))["id"]
    await access.issue_credentials(account)

    await access.send(user_deleted(ada))

    row = await access.account("u_ada")
    assert (row["status"], row["deactivated_by"]) == ("deactivated", "directory")
    assert await access.live_credentials(account) == {
        "sessions": 0,
        "api_keys": 0,
        "device_tokens": 0,
    }
    assert await access.roles(account) == {}
    actions = await access.audit_actions(account)
    assert actions.count("credential.revoked") == 3
    assert "account.deactivated" in actions


async def test_marking_a_user_inactive_in_the_idp_deprovisions_them(access: AccessHarness) -> None:
    ada = person("u_ada")
    await access.send(user_created(ada))
    account = (await access.account("u_ada"))["id"]
    await access.issue_credentials(account)

    await access.send(user_updated(person("u_ada", state="inactive", updated_at=1_700_000_300)))

    assert (await access.account("u_ada"))["status"] == "deactivated"
    assert sum((await access.live_credentials(account)).values()) == 0


async def test_deleting_the_directory_deprovisions_every_account_in_it(
    access: AccessHarness,
) -> None:
    ada, bob = person("u_ada"), person("u_bob")
    await access.send(user_created(ada), user_created(bob))
    accounts = [(await access.account(u))["id"] for u in ("u_ada", "u_bob")]
    for account in accounts:
        await access.issue_credentials(account)

    await access.send(directory_event("deleted", event_at=1_700_000_600))

    for user, account in zip(("u_ada", "u_bob"), accounts, strict=True):
        assert (await access.account(user))["status"] == "deactivated"
        assert sum((await access.live_credentials(account)).values()) == 0


async def test_removing_a_user_from_every_synced_group_deprovisions_when_the_option_is_on(
    access: AccessHarness,
) -> None:
    await access.admin(
        admin.update_policy, ORGANIZATION, {"deprovision_without_groups": True}, CAUSE
    )
    ada = person("u_ada")
    one, two = team("g_one", "one"), team("g_two", "two")
    await access.send(
        user_created(ada),
        group_created(one),
        group_created(two),
        added(ada, one, 1_700_000_200),
        added(ada, two, 1_700_000_201),
    )
    account = (await access.account("u_ada"))["id"]
    await access.issue_credentials(account)

    await access.send(removed(ada, one, 1_700_000_300))
    assert (await access.account("u_ada"))["status"] == "active"  # still in "two"

    await access.send(removed(ada, two, 1_700_000_301))
    assert (await access.account("u_ada"))["status"] == "deactivated"
    assert sum((await access.live_credentials(account)).values()) == 0


async def test_an_admin_deleting_a_member_revokes_sessions_and_api_keys_for_good(
    access: AccessHarness,
) -> None:
    ada, owner = person("u_ada"), person("u_owner")
    await access.send(user_created(ada), user_created(owner))
    account = (await access.account("u_ada"))["id"]
    owner_account = (await access.account("u_owner"))["id"]
    await access.admin(admin.assign, owner_account, Scope("organization", None), "owner", CAUSE)
    await access.issue_credentials(account)

    await access.admin(admin.deactivate_account, account, CAUSE)

    row = await access.account("u_ada")
    assert (row["status"], row["deactivated_by"]) == ("deactivated", "admin")
    assert sum((await access.live_credentials(account)).values()) == 0
    # A later directory update of the still-active user does not undo an admin's decision.
    await access.send(user_updated(person("u_ada", updated_at=1_700_000_300)))
    assert (await access.account("u_ada"))["status"] == "deactivated"
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="owner"):
        await access.admin(admin.deactivate_account, owner_account, CAUSE)


async def test_group_based_admin_requirement_refuses_to_enable_without_an_admin_group(
    access: AccessHarness,
) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="no directory group holds the admin"):
        await access.admin(admin.update_policy, ORGANIZATION, {"require_group_admin": True}, CAUSE)


async def test_group_based_admin_requirement_converts_direct_admins_and_blocks_new_ones(
    access: AccessHarness,
) -> None:
    ada, bob = person("u_ada"), person("u_bob")
    admins = team("g_admins", "admins")
    await access.map_group("admins", "admin")
    await access.send(user_created(ada), user_created(bob), group_created(admins))
    await access.send(added(bob, admins, 1_700_000_200))
    ada_account = (await access.account("u_ada"))["id"]
    bob_account = (await access.account("u_bob"))["id"]
    await access.admin(admin.assign, ada_account, Scope("organization", None), "admin", CAUSE)
    assert await access.roles(ada_account) == {ORG: "admin"}

    await access.admin(admin.update_policy, ORGANIZATION, {"require_group_admin": True}, CAUSE)

    assert await access.roles(ada_account) == {ORG: "member"}  # direct admin converted
    assert await access.roles(bob_account) == {ORG: "admin"}  # group admin kept
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="blocked"):
        await access.admin(admin.assign, ada_account, Scope("organization", None), "admin", CAUSE)


async def test_disabling_scim_removes_groups_and_their_roles_keeps_accounts_and_direct_roles(
    access: AccessHarness,
) -> None:
    ada = person("u_ada")
    admins = team("g_admins", "admins")
    await access.map_group("admins", "admin")
    await access.send(user_created(ada), group_created(admins), added(ada, admins, 1_700_000_200))
    account = (await access.account("u_ada"))["id"]
    await access.admin(admin.assign, account, Scope("team", "team_1"), "team_admin", CAUSE)

    removed_groups = await access.admin(admin.disable_directory, ada["directory_id"], CAUSE)

    assert removed_groups == 1
    assert await access.db.fetchval("SELECT count(*) FROM dsync.groups") == 0
    assert (await access.account("u_ada"))["status"] == "active"
    assert await access.roles(account) == {ORG: "member", ("team", "team_1"): "team_admin"}
    # The directory's events are ignored while its sync is off.
    await access.send(group_created(team("g_new", "admins")))
    assert await access.db.fetchval("SELECT count(*) FROM dsync.groups") == 0


# --- 001 Base44 ------------------------------------------------------------------------


async def test_workspace_owner_is_never_deactivated_or_changed_by_sync(
    access: AccessHarness,
) -> None:
    owner = person("u_owner")
    viewers = team("g_viewers", "viewers")
    await access.map_group("viewers", "viewer")
    await access.send(user_created(owner), group_created(viewers))
    account = (await access.account("u_owner"))["id"]
    await access.admin(admin.assign, account, Scope("organization", None), "owner", CAUSE)
    await access.issue_credentials(account)

    await access.send(added(owner, viewers, 1_700_000_200))
    await access.send(user_updated(person("u_owner", state="inactive", updated_at=1_700_000_300)))
    await access.send(user_deleted(owner))

    assert (await access.account("u_owner"))["status"] == "active"
    assert await access.roles(account) == {ORG: "owner"}
    assert sum((await access.live_credentials(account)).values()) == 3


async def test_role_attribute_updated_in_the_idp_updates_the_role(access: AccessHarness) -> None:
    rules = [{"source_attribute": "role", "match_value": "admin", "role": "admin"}]
    await access.admin(admin.replace_rules, ORGANIZATION, rules, CAUSE)
    await access.send(user_created(person("u_ada", attributes={"role": "viewer"})))
    account = (await access.account("u_ada"))["id"]
    assert await access.roles(account) == {ORG: "member"}

    await access.send(
        user_updated(person("u_ada", attributes={"role": "admin"}, updated_at=1_700_000_300))
    )

    assert await access.roles(account) == {ORG: "admin"}


# --- 002 SafeBase ----------------------------------------------------------------------


async def test_existing_jit_user_is_not_provisioned_again_by_scim(access: AccessHarness) -> None:
    jit = await access.admin(admin.jit_provision, ORGANIZATION, "Ada.Lovelace@Example.com")

    await access.send(user_created(person("u_ada", "ada.lovelace@example.COM")))

    accounts = await access.db.fetch(
        "SELECT id, created_via, directory_user_id FROM dsync.accounts"
    )
    assert [tuple(a) for a in accounts] == [(jit["account_id"], "jit", "u_ada")]


async def test_users_outside_mapped_groups_inherit_the_default_role(access: AccessHarness) -> None:
    await access.admin(admin.update_policy, ORGANIZATION, {"default_role": "viewer"}, CAUSE)
    ada, bob = person("u_ada"), person("u_bob")
    sales = team("g_sales", "Sales Department")
    await access.map_group("Sales Department", "member")
    await access.send(user_created(ada), user_created(bob), group_created(sales))
    await access.send(added(ada, sales, 1_700_000_200))

    assert await access.roles((await access.account("u_ada"))["id"]) == {ORG: "member"}
    assert await access.org_role((await access.account("u_bob"))["id"]) == (
        "viewer",
        [{"type": "default"}],
    )


async def test_highest_of_group_role_and_role_selector_wins(access: AccessHarness) -> None:
    ranks = ["owner", "admin", "account_manager", "member", "viewer"]
    await access.admin(admin.update_policy, ORGANIZATION, {"role_ranks": ranks}, CAUSE)
    ada, bob = person("u_ada"), person("u_bob")
    sales, managers = team("g_sales", "Sales Department"), team("g_am", "Account Managers")
    await access.map_group("Sales Department", "viewer")
    await access.map_group("Account Managers", "account_manager")
    await access.send(
        user_created(ada), user_created(bob), group_created(sales), group_created(managers)
    )
    await access.send(added(ada, sales, 1_700_000_200), added(bob, managers, 1_700_000_201))
    ada_account = (await access.account("u_ada"))["id"]
    bob_account = (await access.account("u_bob"))["id"]

    await access.admin(admin.assign, ada_account, Scope("organization", None), "admin", CAUSE)
    await access.admin(admin.assign, bob_account, Scope("organization", None), "viewer", CAUSE)

    assert await access.roles(ada_account) == {ORG: "admin"}
    assert await access.roles(bob_account) == {ORG: "account_manager"}


# --- 003 Octomil -----------------------------------------------------------------------


async def test_role_mapping_rules_are_evaluated_in_order_and_the_first_match_wins(
    access: AccessHarness,
) -> None:
    rules = [
        {"source_attribute": "groups", "match_value": "ml-platform-team", "role": "admin"},
        {"source_attribute": "department", "match_value": "data-science", "role": "viewer"},
        {"source_attribute": "groups", "match_value": "engineering-leads", "role": "admin"},
    ]
    await access.admin(admin.replace_rules, ORGANIZATION, rules, CAUSE)
    scientist = person("u_sci", attributes={"department": "data-science"})
    lead = person("u_lead", attributes={"department": "data-science"})
    nobody = person("u_none", attributes={"department": "finance"})
    leads = team("g_leads", "engineering-leads")
    await access.send(
        user_created(scientist), user_created(lead), user_created(nobody), group_created(leads)
    )
    await access.send(added(lead, leads, 1_700_000_200))

    assert await access.org_role((await access.account("u_sci"))["id"]) == (
        "viewer",
        [{"type": "rule", "position": 2, "attribute": "department", "value": "data-science"}],
    )
    # Rule 2 matches first although rule 3 would give more: the first match wins.
    assert (await access.org_role((await access.account("u_lead"))["id"]))[0] == "viewer"
    assert await access.org_role((await access.account("u_none"))["id"]) == (
        "member",
        [{"type": "default"}],
    )


async def test_member_delete_deactivates_and_revokes_sessions_and_device_tokens(
    access: AccessHarness,
) -> None:
    member = person("member-ada", "ada@example.com")
    await access.send(stytch(user_created(member), ORGANIZATION))
    account = (await access.account("member-ada"))["id"]
    await access.issue_credentials(account)

    await access.send(stytch(user_deleted(member), ORGANIZATION))

    assert (await access.account("member-ada"))["status"] == "deactivated"
    assert await access.live_credentials(account) == {
        "sessions": 0,
        "api_keys": 0,
        "device_tokens": 0,
    }
    assert "account.deactivated" in await access.audit_actions(account)


async def test_elevated_role_hint_waits_for_explicit_approval(access: AccessHarness) -> None:
    await access.admin(admin.update_policy, ORGANIZATION, {"require_role_approval": True}, CAUSE)
    ada = person("u_ada")
    admins = team("g_admins", "octomil-admins")
    await access.map_group("octomil-admins", "admin")
    await access.send(user_created(ada), group_created(admins), added(ada, admins, 1_700_000_200))
    account = (await access.account("u_ada"))["id"]

    assert await access.roles(account) == {ORG: "member"}
    pending = await access.db.fetch("SELECT role, status FROM dsync.role_approvals")
    assert [tuple(p) for p in pending] == [("admin", "pending")]

    approved = await access.admin(
        admin.decide, account, Scope("organization", None), "admin", True, CAUSE
    )

    assert approved
    assert await access.roles(account) == {ORG: "admin"}
    # The hint goes away with the membership, and so does the approval.
    await access.send(removed(ada, admins, 1_700_000_300))
    assert await access.roles(account) == {ORG: "member"}
    assert await access.db.fetchval("SELECT count(*) FROM dsync.role_approvals") == 0


async def test_role_escalations_are_in_the_audit_log_with_their_cause(
    access: AccessHarness,
) -> None:
    ada = person("u_ada")
    admins = team("g_admins", "admins")
    mapping = await access.map_group("admins", "admin")
    await access.send(user_created(ada), group_created(admins))
    join = added(ada, admins, 1_700_000_200)
    await access.send(join)
    account = (await access.account("u_ada"))["id"]

    row = await access.db.fetchrow(
        "SELECT details, cause FROM dsync.audit_log"
        " WHERE account_id = $1 AND action = 'role.changed'",
        account,
    )
    assert row is not None
    assert (row["details"]["old_role"], row["details"]["new_role"]) == ("member", "admin")
    assert row["details"]["new_sources"][0]["mapping_id"] == mapping
    assert row["cause"]["event_id"] == join["id"]


# --- 004 LLM Gateway -------------------------------------------------------------------


async def test_multiple_group_memberships_escalate_to_the_highest_role(
    access: AccessHarness,
) -> None:
    ada = person("u_ada")
    groups = [team("g_ai", "ai-admins"), team("g_eng", "engineering"), team("g_fin", "finance")]
    for name, role in (("ai-admins", "admin"), ("engineering", "member"), ("finance", "viewer")):
        await access.map_group(name, role)
    await access.send(user_created(ada), *(group_created(g) for g in groups))
    await access.send(added(ada, groups[2], 1_700_000_200), added(ada, groups[1], 1_700_000_201))
    account = (await access.account("u_ada"))["id"]
    assert await access.roles(account) == {ORG: "member"}

    await access.send(added(ada, groups[0], 1_700_000_202))
    assert await access.roles(account) == {ORG: "admin"}

    await access.send(group_deleted(groups[0]))
    assert await access.roles(account) == {ORG: "member"}


async def test_user_removed_from_the_directory_is_deprovisioned_through_polis(
    access: AccessHarness,
) -> None:
    await access.send(polis_user_event("user.created", active=True))
    account = (await access.account("polis-user-1"))["id"]
    await access.issue_credentials(account)

    await access.send(polis_user_event("user.updated", active=False))

    assert (await access.account("polis-user-1"))["status"] == "deactivated"
    assert sum((await access.live_credentials(account)).values()) == 0


# --- the issue's own claims --------------------------------------------------------------


async def test_duplicated_and_out_of_order_events_never_leave_a_revoked_credential_usable(
    access: AccessHarness,
) -> None:
    ada = person("u_ada")
    admins = team("g_admins", "admins")
    history = [
        user_created(ada),
        group_created(admins),
        added(ada, admins, 1_700_000_200),
        user_updated(person("u_ada", updated_at=1_700_000_300, attributes={"title": "x"})),
    ]
    await access.send(*history)
    account = (await access.account("u_ada"))["id"]
    await access.issue_credentials(account)

    deletion = user_deleted(ada, at=1_700_000_400)
    late = [*history, deletion, *history, added(ada, admins, 1_700_000_250)]
    random.Random(5).shuffle(late)
    await access.send(*late)

    assert (await access.account("u_ada"))["status"] == "deactivated"
    assert sum((await access.live_credentials(account)).values()) == 0
    assert await access.roles(account) == {}
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="not active"):
        await access.db.execute("INSERT INTO dsync.sessions (account_id) VALUES ($1)", account)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="not active"):
        await access.db.execute(
            "UPDATE dsync.api_keys SET revoked_at = NULL WHERE account_id = $1", account
        )


async def test_reactivation_restores_group_roles_but_not_removed_direct_roles(
    access: AccessHarness,
) -> None:
    member = person("member-ada", "ada@example.com", updated_at=1_700_000_100)
    admins = team("g_admins", "admins")
    await access.map_group("admins", "admin")
    await access.send(
        stytch(user_created(member), ORGANIZATION),
        stytch(group_created(admins), ORGANIZATION),
        stytch(added(member, admins, 1_700_000_200), ORGANIZATION),
    )
    account = (await access.account("member-ada"))["id"]
    await access.admin(admin.assign, account, Scope("team", "team_1"), "team_admin", CAUSE)
    await access.issue_credentials(account)
    await access.send(stytch(user_deleted(member, at=1_700_000_300), ORGANIZATION))
    assert await access.roles(account) == {}
    await access.admin(admin.unassign, account, Scope("team", "team_1"), CAUSE)

    back = person("member-ada", "ada@example.com", updated_at=1_700_000_400)
    await access.send(stytch(user_updated(back), ORGANIZATION))

    assert (await access.account("member-ada"))["status"] == "active"
    assert await access.roles(account) == {ORG: "admin"}  # the group role, not the team role
    assert sum((await access.live_credentials(account)).values()) == 0  # revoked stays revoked


async def test_revocation_hooks_run_in_the_deprovisioning_transaction(
    access: AccessHarness,
) -> None:
    await access.db.execute(
        "CREATE TABLE public.app_tokens (account_id text, revoked boolean DEFAULT false)"
    )
    await access.admin(
        admin.put_hook,
        "app_tokens",
        "UPDATE public.app_tokens SET revoked = true WHERE account_id = ANY($1::text[])",
    )
    ada = person("u_ada")
    await access.send(user_created(ada))
    account = (await access.account("u_ada"))["id"]
    await access.db.execute("INSERT INTO public.app_tokens VALUES ($1), ('someone-else')", account)

    await access.send(user_deleted(ada))

    rows = await access.db.fetch("SELECT account_id, revoked FROM public.app_tokens ORDER BY 2")
    assert [tuple(r) for r in rows] == [("someone-else", False), (account, True)]


async def test_a_broken_revocation_hook_is_refused_when_added(access: AccessHarness) -> None:
    with pytest.raises(admin.AdminError, match="fails with an empty account list"):
        await access.admin(admin.put_hook, "broken", "UPDATE no_such_table SET x = 1")


async def test_recomputing_touches_only_the_accounts_a_change_concerns(
    access: AccessHarness,
) -> None:
    users = [person(f"u_{n}") for n in range(5)]
    admins = team("g_admins", "admins")
    await access.send(*(user_created(u) for u in users), group_created(admins))
    await access.map_group("admins", "admin")
    before = await access.db.fetchval("SELECT max(seq) FROM dsync.audit_log")

    await access.send(added(users[0], admins, 1_700_000_200))

    touched = await access.db.fetch(
        "SELECT DISTINCT account_id FROM dsync.audit_log WHERE seq > $1", before
    )
    assert [r["account_id"] for r in touched] == [(await access.account("u_0"))["id"]]


# The access step of a batch whose only change is these members' memberships.
MEMBERS_ONLY_BATCH = "SELECT dsync_internal.sync_batch_access('{}', $1, '{}', '{}', '{}')"


async def _members_reaching_access(db: asyncpg.Connection, *members: str) -> int:
    """How many accounts the access step considers for a batch whose only change is
    these users' memberships (rolled back: only the decision is wanted)."""
    tx = db.transaction()
    await tx.start()
    try:
        result = await db.fetchval(MEMBERS_ONLY_BATCH, list(members))
    finally:
        await tx.rollback()
    return int(result["accounts"])


MEMBERSHIPS_DECIDE: dict[str, tuple[Any, ...]] = {
    "group mapping": (
        admin.put_mapping,
        ORGANIZATION,
        None,
        "one",
        Scope("organization", None),
        "admin",
    ),
    "rule on groups": (
        admin.replace_rules,
        ORGANIZATION,
        [{"source_attribute": "groups", "match_value": "one", "role": "admin"}],
    ),
    "deprovision without groups": (
        admin.update_policy,
        ORGANIZATION,
        {"deprovision_without_groups": True},
    ),
}


@pytest.mark.parametrize("setting", MEMBERSHIPS_DECIDE)
async def test_a_membership_change_reaches_the_access_step_only_where_memberships_decide_access(
    access: AccessHarness, setting: str
) -> None:
    ada, one = person("u_ada"), team("g_one", "one")
    await access.send(user_created(ada), group_created(one), added(ada, one, 1_700_000_200))
    assert await _members_reaching_access(access.db, "u_ada") == 0

    call, *args = MEMBERSHIPS_DECIDE[setting]
    await access.admin(call, *args, CAUSE)
    assert await _members_reaching_access(access.db, "u_ada") == 1


async def test_a_membership_only_batch_holds_its_organizations_lock_until_commit(
    access: AccessHarness, database_url: str
) -> None:
    """An administrator's first group mapping takes the same lock, so it cannot slip in
    between this batch deciding that memberships do not count and its commit."""
    await access.send(user_created(person("u_ada")))
    other = await asyncpg.connect(database_url)
    try:
        async with access.db.transaction():
            await access.db.fetchval(MEMBERS_ONLY_BATCH, ["u_ada"])
            taken = await other.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended('dsync.organization:' || $1, 0))",
                ORGANIZATION,
            )
        assert not taken
    finally:
        await other.close()


async def test_rebuild_does_not_revoke_credentials_issued_after_a_past_reactivation(
    access: AccessHarness,
) -> None:
    member = person("member-ada", "ada@example.com", updated_at=1_700_000_100)
    await access.send(stytch(user_created(member)))
    await access.send(stytch(user_deleted(member, at=1_700_000_300)))
    back = person("member-ada", "ada@example.com", updated_at=1_700_000_400)
    await access.send(stytch(user_updated(back)))
    account = (await access.account("member-ada"))["id"]
    assert (await access.account("member-ada"))["status"] == "active"
    await access.issue_credentials(account)  # issued after the reactivation

    # One event per fetch: the rebuild passes through the deleted state on its way.
    await rebuild(access.settings.model_copy(update={"worker_max_batch": 1}))

    assert (await access.account("member-ada"))["status"] == "active"
    assert sum((await access.live_credentials(account)).values()) == 3
    assert await access.roles(account) == {ORG: "member"}
