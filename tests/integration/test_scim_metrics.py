"""The SCIM server's /metrics: answers by method, resource and status, the writes it
answered 503 and why, and the commit wait. The alerts DsyncScimUnavailable and
DsyncScimServerErrors read these, so a write that times out must be counted as such."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dsync.settings import Settings
from tests.access_support import AccessHarness
from tests.scim_stack import client, connect, okta_user, running_scim

pytestmark = [pytest.mark.db, pytest.mark.kafka]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scraped(root: str) -> Samples:
    async with httpx.AsyncClient(base_url=root) as http:
        text = (await http.get("/metrics")).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def answers(samples: Samples, method: str, resource: str, status: str) -> float:
    labels = frozenset({"method": method, "resource": resource, "status": status}.items())
    return samples.get(("dsync_scim_requests_total", labels), 0.0)


async def test_a_commit_timeout_is_counted_as_an_unavailable_write(
    worker_settings: Settings, database_url: str
) -> None:
    """No worker runs: the write is produced, never committed, and answered 503."""
    directory = await connect(database_url, "org_metrics_stalled")
    settings = worker_settings.model_copy(update={"scim_commit_timeout_seconds": 1.0})
    async with running_scim(settings) as root:
        async with client(root, directory["directory_id"], directory["token"]) as scim:
            stalled = await scim.post("/Users", json=okta_user("late@x.test"))
            await scim.get("/Users/a-random-id-that-must-not-become-a-label/../x")
        async with client(root, directory["directory_id"], "scim_wrong") as stranger:
            refused = await stranger.get("/Users")
            odd = await stranger.request("OPTIONS", "/Coffee")
        async with httpx.AsyncClient(base_url=root) as http:
            await http.get("/healthz")
        samples = await scraped(root)

    assert (stalled.status_code, refused.status_code) == (503, 401)
    assert answers(samples, "POST", "Users", "503") == 1
    assert answers(samples, "GET", "Users", "401") == 1
    assert answers(samples, "other", "other", str(odd.status_code)) == 1
    timeouts = frozenset({"reason": "commit_timeout"}.items())
    assert samples[("dsync_scim_unavailable_total", timeouts)] == 1
    assert samples[("dsync_scim_commit_wait_seconds_count", frozenset())] == 0
    resources = {dict(labels)["resource"] for name, labels in samples if "resource" in dict(labels)}
    assert resources <= {"Users", "Groups", "other"}  # bounded: no ids, no probes


async def test_a_committed_write_observes_the_commit_wait(
    access: AccessHarness, database_url: str
) -> None:
    directory = await connect(database_url, "org_metrics_applied")
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    async with running_scim(settings) as root:
        async with client(root, directory["directory_id"], directory["token"]) as scim:
            created = await scim.post("/Users", json=okta_user("ada@x.test"))
        samples = await scraped(root)

    assert created.status_code == 201
    assert answers(samples, "POST", "Users", "201") == 1
    assert samples[("dsync_scim_commit_wait_seconds_count", frozenset())] == 1
    assert not any(name == "dsync_scim_unavailable_total" for name, _ in samples)
