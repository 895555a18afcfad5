"""Reconciliation of Stytch and Polis directories against their stand-ins: the listing is
walked whole (Polis caps pages below what dsync asks for; Stytch hides deleted members
unless asked), the tables end equal to the provider's truth, and Polis member rows of
deleted users add nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from reconcile.main import reconcile
from schemas.envelope import EventEnvelope
from tests.access_support import AccessHarness
from tests.integration.test_reconcile import tables
from tests.standins.polis import PolisStandIn, PolisTruth
from tests.standins.stytch import StytchStandIn, StytchTruth
from tests.support import eventually, stored_offsets_total

PAST = datetime(2026, 1, 1, tzinfo=UTC)
USER_FIELDS = ("email", "state")  # what these tests compare of each user


async def run_and_apply(access: AccessHarness, settings: Any, provider: Any, directory: str) -> Any:
    before = await stored_offsets_total(access.db)
    [outcome] = (await reconcile(settings, provider, [directory], dry_run=False)).outcomes
    produced = sum(outcome.tally.repaired.values())
    await eventually(lambda: stored_offsets_total(access.db), lambda n: n >= before + produced)
    return outcome


def polis_created(truth: PolisTruth, user: dict[str, Any]) -> EventEnvelope:
    """The webhook Polis sent when `user` was created (long before the run)."""
    body = {
        "event": "user.created",
        "tenant": truth.tenant,
        "product": truth.product,
        "directory_id": truth.directory_id,
        "data": user,
    }
    return EventEnvelope(
        source="polis",
        event_id=f"polis_created_{user['id']}",
        event_type="user.created",
        directory_id=truth.directory_id,
        received_at=PAST,
        body=json.dumps(body).encode(),
        occurred_at=PAST,
    )


async def test_polis_directory_is_listed_past_the_page_cap_and_repaired(
    access: AccessHarness,
) -> None:
    truth = PolisTruth()
    users = [truth.add_user(f"person{n}@example.com", active=n % 7 != 0) for n in range(61)]
    groups = [truth.add_group(f"Team {n}") for n in range(3)]
    truth.members |= {(groups[n % 3], user) for n, user in enumerate(users[:30])}
    gone = [truth.add_user(f"gone{n}@example.com") for n in range(2)]
    await access.send(*[polis_created(truth, truth.users[user]) for user in gone])
    for user in gone:
        truth.members.add((groups[0], user))  # a member row Polis keeps after the deletion
        truth.delete_user(user)
    with PolisStandIn.running("polis-key", truth, page_limit=20) as standin:
        settings = access.settings.model_copy(
            update={"polis_api_key": SecretStr("polis-key"), "polis_api_base_url": standin.url}
        )
        first = await run_and_apply(access, settings, "polis", truth.directory_id)
        second = await run_and_apply(access, settings, "polis", truth.directory_id)

    expected_users = {
        user_id: (user["email"], "active" if user["active"] else "inactive")
        for user_id, user in truth.users.items()
    }
    assert (await tables(access, truth.directory_id, USER_FIELDS)) == {
        "users": expected_users,
        "groups": {g: truth.groups[g]["name"] for g in groups},
        "memberships": {m for m in truth.members if m[1] in truth.users},
    }
    assert first.tally.found["user_vanished"] == 2
    assert second.tally.total == 0


async def test_stytch_organization_is_repaired_with_deleted_members_listed(
    access: AccessHarness,
) -> None:
    truth = StytchTruth()
    at = "2026-01-01T00:00:00Z"
    members = [truth.add_member(f"member{n}@example.com", at) for n in range(12)]
    groups = [truth.add_group(f"Team {n}") for n in range(2)]
    for n, member in enumerate(members[:6]):
        truth.join(groups[n % 2], member)
    truth.update_member(members[-1], "2026-01-02T00:00:00Z", status="deleted")
    with StytchStandIn.running("project-test-1", "secret-1", truth) as standin:
        settings = access.settings.model_copy(
            update={
                "stytch_project_id": "project-test-1",
                "stytch_secret": SecretStr("secret-1"),
                "stytch_api_base_url": standin.url,
            }
        )
        first = await run_and_apply(access, settings, "stytch", truth.organization_id)
        second = await run_and_apply(access, settings, "stytch", truth.organization_id)
    directory = truth.organization_id
    live = {m: (truth.members[m]["email_address"], "active") for m in members[:-1]}
    assert (await tables(access, directory, USER_FIELDS)) == {
        "users": live,
        "groups": {g: truth.groups[g]["group_name"] for g in groups},
        "memberships": {(groups[n % 2], m) for n, m in enumerate(members[:6])},
    }
    assert first.tally.found["user_upsert"] == 11
    assert second.tally.total == 0
