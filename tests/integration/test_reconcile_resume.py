"""A reconciliation stopped mid-listing (the provider down after its retries) resumes at
its checkpoint: the same run, from the page after the last one recorded, without reading
or repairing the earlier pages again, and the tables end equal to the provider's truth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest
from pydantic import SecretStr

from dsync.producer import KafkaProducer
from dsync.provider_http import ProviderHttp, ProviderUnavailable
from reconcile.listing import Kind, Listed, Object, Page
from reconcile.run import Run
from reconcile.workos import WorkOS
from schemas.envelope import EventEnvelope, Source
from tests.access_support import AccessHarness
from tests.integration.test_reconcile import API_KEY, Ticking, tables, truth_of
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth
from tests.support import eventually, stored_offsets_total
from worker.store import connect


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(API_KEY, truth=WorkOSTruth(clock=Ticking())) as running:
        yield running


class Recording:
    """WorkOS, recording the user pages asked for; `fail_at` makes that page unavailable."""

    name: Source = "workos"

    def __init__(self, inner: WorkOS, fail_at: str | None = None) -> None:
        self.inner, self.fail_at = inner, fail_at
        self.cursors: list[str | None] = []

    async def prepare(self, directory_id: str) -> None:
        await self.inner.prepare(directory_id)

    async def users(self, cursor: str | None) -> Page:
        self.cursors.append(cursor)
        if cursor is not None and cursor == self.fail_at:
            raise ProviderUnavailable("GET /directory_users: no usable answer in 6 tries")
        return await self.inner.users(cursor)

    async def groups(self, cursor: str | None) -> Page:
        return await self.inner.groups(cursor)

    async def members(self, group: Object) -> AsyncIterator[list[str]]:
        async for ids in self.inner.members(group):
            yield ids

    def user_groups(self, user: Object) -> list[str]:
        return []

    async def gone(self, kind: Kind, object_id: str) -> bool:
        return await self.inner.gone(kind, object_id)

    def read(self, kind: Kind, item: Object, at: datetime) -> Listed:
        return self.inner.read(kind, item, at)

    def event(self, listed: Listed, at: datetime, run_id: str, event_id: str) -> EventEnvelope:
        return self.inner.event(listed, at, run_id, event_id)

    def key(self, kind: Kind, object_id: str) -> str | None:
        return None


async def test_a_run_stopped_mid_listing_resumes_at_its_last_page(
    access: AccessHarness, standin: WorkOSStandIn
) -> None:
    truth = standin.truth
    directory = truth.add_directory()
    users = [truth.add_user(directory, f"person{n}@example.com") for n in range(250)]
    settings = access.settings
    conn = await connect(settings.require_database_url())
    http = ProviderHttp(standin.url, SecretStr(API_KEY))
    producer = KafkaProducer(settings.require_bootstrap_servers(), ack_timeout=5, idempotent=False)
    try:
        second_page = users[99]  # WorkOS cursors are the last id of the page before
        failing = Recording(WorkOS(http), fail_at=second_page)
        with pytest.raises(ProviderUnavailable):
            await Run(failing, conn, producer, settings.events_topic).run(directory)
        assert failing.cursors == [None, second_page]

        resuming = Recording(WorkOS(http))
        outcome = await Run(resuming, conn, producer, settings.events_topic).run(directory)
        assert resuming.cursors == [second_page, users[199]]  # not the first page again
        assert outcome.tally.found["user_upsert"] == 250
        assert outcome.tally.repaired["user_upsert"] == 250
        runs = await conn.fetchval(
            "SELECT count(*) FROM dsync_internal.reconcile_runs WHERE directory_id = $1",
            directory,
        )
        assert runs == 1
        await eventually(lambda: stored_offsets_total(access.db), lambda n: n >= 250)
    finally:
        await producer.close()
        await http.close()
        await conn.close()
    assert (await tables(access, directory)) == truth_of(truth, directory)
