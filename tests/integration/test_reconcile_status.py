"""What an operator sees of reconciliation: `dsync reconcile --dry-run` prints counts and
ids (e-mails only when asked), and `dsync status` / GET /diagnostics and the metrics show
the last run per directory and drift found by two runs in a row."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from dsync.source_metrics import ReconcileMetrics
from reconcile.main import reconcile
from tests import processes
from tests.access_support import AccessHarness
from tests.integration.test_reconcile import (
    API_KEY,
    Ticking,
    deliver,
    random_history,
    settings_for_standin,
)
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth
from tests.support import eventually, stored_offsets_total
from worker.diagnostics import read_status


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(API_KEY, truth=WorkOSTruth(clock=Ticking())) as running:
        yield running


async def test_dry_run_prints_ids_and_counts_and_emails_only_when_asked(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    truth = standin.truth
    directory = truth.add_directory()
    random_history(truth, directory, random.Random(5), steps=20)
    env = {
        "DSYNC_DATABASE_URL": access.settings.require_database_url(),
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": access.settings.require_bootstrap_servers(),
        "DSYNC_EVENTS_TOPIC": access.settings.events_topic,
        "DSYNC_WORKOS_API_KEY": API_KEY,
        "DSYNC_WORKOS_API_BASE_URL": standin.url,
    }
    args = ("reconcile", "--provider", "workos", "--directory", directory, "--dry-run")
    code, out, err = await processes.run_dsync(env, *args)
    assert code == 0, err
    *lines, summary = out.strip().splitlines()
    found = json.loads(summary)
    assert found["dry_run"] is True
    assert found["repaired"] == {}
    assert sum(found["drift"].values()) == len(lines) > 0
    assert all(len(line.split("\t")) == 2 for line in lines)
    assert "@" not in out

    code, out, err = await processes.run_dsync(env, *args, "--show-personal-data")
    assert code == 0, err
    users = [line.split("\t") for line in out.splitlines() if line.startswith("user_upsert")]
    assert users
    assert all(fields[2].endswith("@example.com") for fields in users)


async def test_status_and_metrics_show_drift_on_two_runs_in_a_row(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    truth = standin.truth
    directory = truth.add_directory()
    random_history(truth, directory, random.Random(9), steps=20)
    await deliver(access, [stored.event for stored in truth.events])
    settings = settings_for_standin(access.settings, standin)
    metrics = ReconcileMetrics()

    async def run() -> None:
        before = await stored_offsets_total(access.db)
        [outcome] = (
            await reconcile(settings, "workos", [directory], dry_run=False, metrics=metrics)
        ).outcomes
        produced = sum(outcome.tally.repaired.values())
        await eventually(lambda: stored_offsets_total(access.db), lambda n: n >= before + produced)

    def twice() -> float | None:
        return metrics.registry.get_sample_value(
            "dsync_reconcile_drifted_twice_directories", {"provider": "workos"}
        )

    truth.add_user(directory, "lost1@example.com")  # its webhook lost: drift
    await run()
    assert twice() == 0
    truth.add_user(directory, "lost2@example.com")
    await run()
    [last] = (await read_status(access.settings)).reconciliations
    assert (last.directory_id, last.drift, last.drifted_twice) == (
        directory,
        {"user_upsert": 1},
        True,
    )
    assert twice() == 1
    assert (
        metrics.registry.get_sample_value(
            "dsync_reconcile_drift_total", {"provider": "workos", "kind": "user_upsert"}
        )
        == 2
    )

    await run()  # nothing left to repair
    status = (await read_status(access.settings)).to_json()
    [shown] = status["reconciliations"]
    assert (shown["drift"], shown["drift_on_two_runs_in_a_row"]) == ({}, False)
    assert twice() == 0
