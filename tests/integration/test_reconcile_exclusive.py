"""One reconciliation of a (provider, directory) at a time (reconcile.exclusive): a second
`dsync reconcile` of a directory being reconciled skips it and says so in its exit status,
the run's checkpoints and tally are those of one run, and a run whose connection ended (a
killed process) frees the directory for the next run, which resumes it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import asyncpg
import pytest

from reconcile.exclusive import SKIPPED, SKIPPED_EXIT
from reconcile.main import Reconciled, reconcile
from tests import processes
from tests.access_support import AccessHarness
from tests.integration.test_reconcile import (
    API_KEY,
    Ticking,
    settings_for_standin,
    tables,
    truth_of,
)
from tests.standins.server import Gate
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth
from tests.support import eventually, stored_offsets_total
from worker.diagnostics import read_status

LOCK_HOLDER = """
SELECT l.pid FROM pg_locks AS l
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid = ((hashtextextended('dsync.reconcile:workos:' || $1, 0) >> 32) & 4294967295)::oid
  AND l.objid = (hashtextextended('dsync.reconcile:workos:' || $1, 0) & 4294967295)::oid
"""


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(API_KEY, truth=WorkOSTruth(clock=Ticking())) as running:
        yield running


def directory_with_drift(standin: WorkOSStandIn) -> str:
    """Five users, a group and a membership dsync has never heard of."""
    truth = standin.truth
    directory = truth.add_directory()
    users = [truth.add_user(directory, f"person{n}@example.com") for n in range(5)]
    truth.add_member(truth.add_group(directory, "Engineering"), users[0])
    return directory


async def applied(access: AccessHarness, done: Reconciled, before: int) -> None:
    produced = sum(sum(o.tally.repaired.values()) for o in done.outcomes)
    await eventually(lambda: stored_offsets_total(access.db), lambda n: n >= before + produced)


async def test_a_second_reconciliation_of_a_running_directory_skips_it(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    directory = directory_with_drift(standin)
    settings = settings_for_standin(access.settings, standin)
    env = {
        "DSYNC_DATABASE_URL": settings.require_database_url(),
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.require_bootstrap_servers(),
        "DSYNC_EVENTS_TOPIC": settings.events_topic,
        "DSYNC_WORKOS_API_KEY": API_KEY,
        "DSYNC_WORKOS_API_BASE_URL": standin.url,
    }
    offsets = await stored_offsets_total(access.db)
    gate = Gate("/directory_users")  # the first run waits at its first page of users
    standin.gates.append(gate)
    try:
        first = asyncio.create_task(reconcile(settings, "workos", [directory], dry_run=False))
        assert await asyncio.to_thread(gate.wait_for, 1)
        second = asyncio.create_task(
            processes.run_dsync(env, "reconcile", "--provider", "workos", "--directory", directory)
        )

        async def settled() -> bool:  # skipped at once, or (unguarded) at the provider too
            return second.done() or gate.arrivals >= 2

        await eventually(settled, bool, within=60)
    finally:
        gate.opened.set()
    done, (code, out, err) = await asyncio.gather(first, second)

    assert (code, json.loads(out)) == (
        SKIPPED_EXIT,
        {"directory_id": directory, "dry_run": False, "skipped": SKIPPED},
    ), err
    [outcome] = done.outcomes
    expected = {"user_upsert": 5, "group_upsert": 1, "membership_added": 1}
    assert (dict(outcome.tally.found), dict(outcome.tally.repaired)) == (expected, expected)
    runs = await access.db.fetch(
        "SELECT run_id, phase, drift, repaired FROM dsync_internal.reconcile_runs"
        " WHERE directory_id = $1",
        directory,
    )
    assert [(r["run_id"], r["phase"], r["drift"], r["repaired"]) for r in runs] == [
        (outcome.run_id, "done", expected, expected)
    ]
    await applied(access, done, offsets)
    assert await tables(access, directory) == truth_of(standin.truth, directory)


async def test_a_run_whose_connection_ended_frees_its_directory_for_the_next(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    directory = directory_with_drift(standin)
    settings = settings_for_standin(access.settings, standin)
    offsets = await stored_offsets_total(access.db)
    gate = Gate("/directory_users")
    standin.gates.append(gate)
    try:
        first = asyncio.create_task(reconcile(settings, "workos", [directory], dry_run=False))
        assert await asyncio.to_thread(gate.wait_for, 1)
        [running] = (await read_status(access.settings)).unfinished
        assert (running.directory_id, running.running) == (directory, True)
        # The holder's session ends as a killed process's does.
        holder = await access.db.fetchval(LOCK_HOLDER, directory)
        assert await access.db.fetchval("SELECT pg_terminate_backend($1)", holder)
        await eventually(lambda: access.db.fetchval(LOCK_HOLDER, directory), lambda p: p is None)
    finally:
        gate.opened.set()
    # Which error the run meets depends on when asyncpg read the server's goodbye: the
    # next query finds the connection gone, or still mid-way through the aborted one.
    with pytest.raises(
        (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
    ):
        await first
    [stopped] = (await read_status(access.settings)).unfinished
    assert (stopped.run_id, stopped.running) == (running.run_id, False)

    done = await reconcile(settings, "workos", [directory], dry_run=False)

    assert done.skipped == []
    [outcome] = done.outcomes
    assert outcome.run_id == running.run_id  # the stopped run, resumed
    assert (await read_status(access.settings)).unfinished == []
    await applied(access, done, offsets)
    assert await tables(access, directory) == truth_of(standin.truth, directory)
