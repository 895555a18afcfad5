"""Directories themselves are reconciled (reconcile.directories): without --directory a
WorkOS run lists GET /directories, finds a directory whose `dsync.activated` was lost (and
then its users), repairs a renamed one, deletes one gone at the provider only after a read
confirms it (404) and only if nothing newer about it arrived, and a dry run reports all of
it without producing anything."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from reconcile.main import Reconciled, reconcile
from reconcile.run import Outcome
from tests.access_support import AccessHarness
from tests.integration.test_reconcile import (
    API_KEY,
    Ticking,
    deliver,
    settings_for_standin,
    tables,
    truth_of,
)
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth, iso_ms
from tests.support import eventually, stored_offsets_total

_ids = itertools.count(1)


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(API_KEY, truth=WorkOSTruth(clock=Ticking())) as running:
        yield running


def populated(truth: WorkOSTruth, users: int) -> tuple[str, list[str]]:
    directory = truth.add_directory(f"Directory {next(_ids)}")
    return directory, [
        truth.add_user(directory, f"p{next(_ids)}@example.com") for _ in range(users)
    ]


def events_of(truth: WorkOSTruth, directory: str) -> list[dict[str, Any]]:
    def about(event: dict[str, Any]) -> bool:
        data = event["data"]
        return directory in (data.get("id"), data.get("directory_id"))

    return [s.event for s in truth.events if about(s.event)]


async def every_directory(access: AccessHarness, standin: WorkOSStandIn) -> dict[str, Outcome]:
    """`dsync reconcile --provider workos` (no --directory); returns once applied."""
    before = await stored_offsets_total(access.db)
    settings = settings_for_standin(access.settings, standin)
    done: Reconciled = await reconcile(settings, "workos", [], dry_run=False)
    produced = sum(sum(o.tally.repaired.values()) for o in done.outcomes)
    await eventually(lambda: stored_offsets_total(access.db), lambda n: n >= before + produced)
    assert done.skipped == []
    return {o.directory_id: o for o in done.outcomes}


async def directory_row(access: AccessHarness, directory: str) -> tuple[Any, ...] | None:
    row = await access.db.fetchrow(
        "SELECT name, state, deleted_at IS NOT NULL AS deleted FROM dsync.directories"
        " WHERE id = $1",
        directory,
    )
    return None if row is None else tuple(row)


async def test_a_directory_whose_activation_was_lost_is_found_with_its_users(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    truth = standin.truth
    synced, _ = populated(truth, 2)
    renamed, _ = populated(truth, 1)
    lost, _ = populated(truth, 3)
    await deliver(access, events_of(truth, synced) + events_of(truth, renamed))
    with truth.lock:  # renamed at the provider, its webhook lost
        truth.directories[renamed].update(name="Renamed Co", updated_at=truth.stamp())

    outcomes = await every_directory(access, standin)

    assert sorted(outcomes) == sorted([synced, renamed, lost])
    assert dict(outcomes[synced].tally.found) == {}  # REST `linked` is the events' `active`
    assert dict(outcomes[renamed].tally.found) == {"directory_upsert": 1}
    assert dict(outcomes[lost].tally.found) == {"directory_upsert": 1, "user_upsert": 3}
    assert await directory_row(access, renamed) == ("Renamed Co", "active", False)
    assert await directory_row(access, lost) == (truth.directories[lost]["name"], "active", False)
    assert await tables(access, lost) == truth_of(truth, lost)
    again = await every_directory(access, standin)
    assert all(o.tally.total == 0 for o in again.values())


async def test_a_directory_gone_at_the_provider_is_deleted_only_after_a_404(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    truth = standin.truth
    directory, users = populated(truth, 2)
    await deliver(access, events_of(truth, directory))
    name = truth.directories[directory]["name"]
    accounts = {user: (await access.account(user))["id"] for user in users}
    for account in accounts.values():
        await access.issue_credentials(account)

    standin.unlisted.add(directory)  # missing from the listing, yet there
    first = await every_directory(access, standin)
    assert dict(first[directory].tally.found) == {}
    assert standin.traffic.by_path[f"/directories/{directory}"] == 1
    assert await directory_row(access, directory) == (name, "active", False)

    truth.delete_directory(directory)  # its dsync.deleted webhook lost
    second = await every_directory(access, standin)

    assert dict(second[directory].tally.found) == {"directory_vanished": 1}
    assert standin.traffic.by_path["/directory_users"] == 1  # only the first run listed them
    assert (await directory_row(access, directory) or ())[2] is True
    assert await tables(access, directory) == {"users": {}, "groups": {}, "memberships": set()}
    for user, account in accounts.items():
        row = await access.account(user)
        assert row["status"] == "deactivated"
        assert sum((await access.live_credentials(account)).values()) == 0
    assert directory not in await every_directory(access, standin)  # deleted: not listed again


async def test_a_directory_described_since_the_listing_began_is_not_deleted(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    """A `dsync.activated` newer than the listing's start, for a directory the provider's
    listing and read do not show (yet): spared, and not even read."""
    now = iso_ms(datetime.now(UTC).timestamp())
    data = {
        "object": "directory",
        "id": "directory_01NEWERTHANTHELISTING",
        "organization_id": standin.truth.organization_id,
        "name": "Just Activated",
        "type": "okta scim v2.0",
        "state": "active",
        "created_at": now,
        "updated_at": now,
    }
    event = {"object": "event", "id": "event_01NEWER", "event": "dsync.activated", "data": data}
    await deliver(access, [{**event, "created_at": now}])

    outcomes = await every_directory(access, standin)

    assert dict(outcomes[data["id"]].tally.found) == {}
    assert await directory_row(access, data["id"]) == ("Just Activated", "active", False)
    assert standin.traffic.by_path[f"/directories/{data['id']}"] == 0


async def test_a_dry_run_reports_directory_drift_and_produces_nothing(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    truth = standin.truth
    gone, _ = populated(truth, 1)
    await deliver(access, events_of(truth, gone))
    name = truth.directories[gone]["name"]
    truth.delete_directory(gone)
    lost, _ = populated(truth, 1)
    offsets = await stored_offsets_total(access.db)
    reported: list[tuple[str, str]] = []
    settings = settings_for_standin(access.settings, standin)

    done = await reconcile(
        settings,
        "workos",
        [],
        dry_run=True,
        report=lambda c: reported.append((c.kind, c.object_id)),
    )

    assert sorted(reported) == sorted(
        [
            ("directory_vanished", gone),
            ("directory_upsert", lost),
            ("user_upsert", next(u for u in truth.users)),
        ]
    )
    assert all(sum(o.tally.repaired.values()) == 0 for o in done.outcomes)
    assert await stored_offsets_total(access.db) == offsets
    assert await directory_row(access, gone) == (name, "active", False)
    assert await directory_row(access, lost) is None
