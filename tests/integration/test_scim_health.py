"""The SCIM server's probes: /healthz while the process runs, /readyz only while a write
could be applied (PostgreSQL answers and the events topic exists). Kubernetes routes IdP
requests by /readyz, so a wrong 200 sends them into a 503 after the commit-wait deadline."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from dsync.settings import Settings
from dsync.topics import ensure_topics
from tests.scim_stack import running_scim

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def _probe(root: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=root, timeout=30) as http:
        return await http.get(path)


async def test_readyz_is_503_while_the_events_topic_is_missing(
    worker_settings: Settings, kafka_bootstrap: str
) -> None:
    topic = f"dsync.test.scimready.{uuid.uuid4().hex[:12]}"
    settings = worker_settings.model_copy(
        update={"events_topic": topic, "broker_ack_timeout_seconds": 2.0}
    )
    async with running_scim(settings) as root:
        health = await _probe(root, "/healthz")
        missing = await _probe(root, "/readyz")
        await ensure_topics(kafka_bootstrap, {topic: 1})
        created = await _probe(root, "/readyz")

    assert health.json() == {"status": "ok"}
    assert (missing.status_code, missing.json()) == (503, {"status": "topic_unavailable"})
    assert (created.status_code, created.json()) == (200, {"status": "ready"})


async def test_readyz_is_503_while_the_database_refuses_connections(
    worker_settings: Settings, database_url: str, pg_admin_url: str
) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(pg_admin_url)
    try:
        async with running_scim(worker_settings) as root:
            before = await _probe(root, "/readyz")
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            down = await _probe(root, "/readyz")
            alive = await _probe(root, "/healthz")
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            back = await _probe(root, "/readyz")
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()

    assert (before.status_code, before.json()) == (200, {"status": "ready"})
    assert (down.status_code, down.json()) == (503, {"status": "database_unavailable"})
    assert alive.status_code == 200  # liveness: restarting would not bring PostgreSQL back
    assert (back.status_code, back.json()) == (200, {"status": "ready"})
