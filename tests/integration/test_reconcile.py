"""Reconciliation against the WorkOS stand-in: a random history delivered by webhook with
a fifth of the webhooks lost, then `reconcile`: the tables equal the provider's truth,
every user removed at the provider whose webhook was lost is deprovisioned, and a second
run finds nothing. Faults (429, 5xx, a dropped connection) lose nothing and cost one
request each."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from dsync.settings import Settings
from reconcile.main import reconcile
from reconcile.run import Outcome
from tests.access_support import AccessHarness
from tests.standins.server import Fault
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth
from tests.support import envelope_of, eventually, stored_offsets_total

API_KEY = "sk_test_reconcile"
START = 1_790_000_000.0  # the truth's clock: well before the run, beyond the clock margin


class Ticking:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def random_history(truth: WorkOSTruth, directory: str, rng: random.Random, steps: int) -> None:
    """Creates, updates, deletes users and groups and changes memberships at random."""
    users: list[str] = []
    groups: list[str] = []
    for step in range(steps):
        choice = rng.random()
        if choice < 0.3 or not users:
            users.append(truth.add_user(directory, f"user{step}@example.com"))
        elif choice < 0.4 or not groups:
            groups.append(truth.add_group(directory, f"Group {step}"))
        elif choice < 0.5:
            truth.update_user(rng.choice(users), first_name=f"Renamed{step}")
        elif choice < 0.55:
            truth.update_user(rng.choice(users), state="inactive")
        elif choice < 0.62:
            users.remove(user := rng.choice(users))
            truth.delete_user(user)
        elif choice < 0.64:
            groups.remove(group := rng.choice(groups))
            truth.delete_group(group)
        elif choice < 0.92:
            truth.add_member(rng.choice(groups), rng.choice(users))
        else:
            member = rng.choice(sorted(truth.memberships) or [("", "")])
            if member[0]:
                truth.remove_member(*member)


def settings_for_standin(settings: Settings, standin: WorkOSStandIn) -> Settings:
    return settings.model_copy(
        update={"workos_api_key": SecretStr(API_KEY), "workos_api_base_url": standin.url}
    )


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(API_KEY, truth=WorkOSTruth(clock=Ticking())) as running:
        yield running


async def deliver(access: AccessHarness, events: list[dict[str, Any]]) -> None:
    await access.send(*[envelope_of(event) for event in events])


async def reconciled(access: AccessHarness, settings: Settings, directory: str) -> Outcome:
    """One run; returns once the worker has applied every corrective event."""
    before = await stored_offsets_total(access.db)
    [outcome] = (await reconcile(settings, "workos", [directory], dry_run=False)).outcomes
    produced = sum(outcome.tally.repaired.values())
    await eventually(lambda: stored_offsets_total(access.db), lambda n: n >= before + produced)
    return outcome


async def tables(
    access: AccessHarness,
    directory: str,
    user_fields: tuple[str, ...] = ("email", "first_name", "state"),
) -> dict[str, Any]:
    """The directory's live users (`user_fields` of each), groups and memberships."""
    db = access.db
    users = await db.fetch(
        "SELECT * FROM dsync.users WHERE directory_id = $1 AND deleted_at IS NULL", directory
    )
    groups = await db.fetch(
        "SELECT id, name FROM dsync.groups WHERE directory_id = $1 AND deleted_at IS NULL",
        directory,
    )
    members = await db.fetch(
        "SELECT group_id, user_id FROM dsync.group_memberships WHERE directory_id = $1", directory
    )
    return {
        "users": {r["id"]: tuple(r[field] for field in user_fields) for r in users},
        "groups": {r["id"]: r["name"] for r in groups},
        "memberships": {(r["group_id"], r["user_id"]) for r in members},
    }


def truth_of(truth: WorkOSTruth, directory: str) -> dict[str, Any]:
    return {
        "users": {
            u["id"]: (u["email"], u["first_name"], u["state"])
            for u in truth.users.values()
            if u["directory_id"] == directory
        },
        "groups": {g["id"]: g["name"] for g in truth.groups.values()},
        "memberships": set(truth.memberships),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_reconcile_repairs_a_history_with_a_fifth_of_its_webhooks_lost(
    access: AccessHarness, standin: WorkOSStandIn, seed: int
) -> None:
    rng = random.Random(seed)
    truth = standin.truth
    directory = truth.add_directory()
    random_history(truth, directory, rng, steps=80)
    events = [stored.event for stored in truth.events]
    lost = set(rng.sample(range(len(events)), k=len(events) // 5))
    delivered = [e for i, e in enumerate(events) if i not in lost]
    # Three people sure to be stranded: created (delivered), removed (that webhook lost).
    stranded_ids = [truth.add_user(directory, f"stranded{n}@example.com") for n in range(3)]
    delivered += [stored.event for stored in truth.events[len(events) :]]
    for user_id in stranded_ids:
        truth.delete_user(user_id)
    await deliver(access, delivered)
    stranded = {user_id: (await access.account(user_id))["id"] for user_id in stranded_ids}
    for account in stranded.values():
        await access.issue_credentials(account)
    assert (await tables(access, directory)) != truth_of(truth, directory)

    settings = settings_for_standin(access.settings, standin)
    first = await reconciled(access, settings, directory)

    assert (await tables(access, directory)) == truth_of(truth, directory)
    assert first.tally.total > 0
    assert first.tally.repaired == first.tally.found
    for user_id, account in stranded.items():
        row = await access.account(user_id)
        assert (row["status"], row["deactivated_by"]) == ("deactivated", "directory")
        assert sum((await access.live_credentials(account)).values()) == 0
    second = await reconciled(access, settings, directory)
    assert second.tally.total == 0
    assert (await tables(access, directory)) == truth_of(truth, directory)


async def test_a_dry_run_reports_the_drift_and_produces_nothing(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    truth = standin.truth
    directory = truth.add_directory()
    random_history(truth, directory, random.Random(7), steps=40)
    events = [stored.event for stored in truth.events]
    await deliver(access, events[: len(events) // 2])
    before = await tables(access, directory)
    offsets = await stored_offsets_total(access.db)
    reported: list[str] = []
    settings = settings_for_standin(access.settings, standin)
    done = await reconcile(
        settings, "workos", [directory], dry_run=True, report=lambda c: reported.append(c.object_id)
    )
    [outcome] = done.outcomes
    assert outcome.tally.total == len(reported) > 0
    assert sum(outcome.tally.repaired.values()) == 0
    assert await stored_offsets_total(access.db) == offsets
    assert await tables(access, directory) == before


async def test_429_5xx_and_a_dropped_connection_lose_nothing_and_cost_one_request_each(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    truth = standin.truth
    directory = truth.add_directory()
    random_history(truth, directory, random.Random(11), steps=60)
    events = [stored.event for stored in truth.events]
    await deliver(access, events[::2])
    settings = settings_for_standin(access.settings, standin)

    faults = [
        Fault(429, retry_after="1", path="/directory_users"),
        Fault(429, path="/directory_groups"),
        Fault(500, path="/directory_users"),
        Fault(503, path="/directory_groups"),
        Fault(drop=True, path="/directory_users"),
    ]
    standin.faults.add(*faults)
    first = await reconciled(access, settings, directory)
    assert standin.faults.pending == 0
    assert (await tables(access, directory)) == truth_of(truth, directory)
    faulted = standin.traffic.total

    # The same listing again, without faults and with nothing left to confirm gone: the
    # first run cost exactly one more request per fault and per confirmation read.
    standin.traffic.by_path.clear()
    again = await reconciled(access, settings, directory)
    assert again.tally.total == 0
    confirmed = first.tally.found["user_vanished"] + first.tally.found["group_vanished"]
    assert faulted == standin.traffic.total + len(faults) + confirmed
