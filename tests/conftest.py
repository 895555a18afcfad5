"""Real services for the suite: PostgreSQL (a template database cloned per test) and a
Kafka-protocol broker (topics unique per test). Embedded ones unless DSYNC_TEST_* say."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from dsync.embedded import EmbeddedBroker, EmbeddedPostgres
from dsync.settings import Settings
from dsync.topics import ensure_topics
from tests.databases import drop_database, migrated_database, own_database
from tests.support import settings_for

# Property tests judge correctness, not speed: on a loaded machine (CI runs four pytest
# processes on two cores) generating inputs can be slow without anything being wrong.
hypothesis_settings.register_profile(
    "dsync", suppress_health_check=[HealthCheck.too_slow], deadline=None, print_blob=True
)
hypothesis_settings.load_profile("dsync")


@pytest.fixture(scope="session")
def service_dir() -> Iterator[Path]:
    """Data of the embedded servers. Not under pytest's basetemp: pytest deletes all but
    its three newest session directories, which would pull the data out from under a
    session while another pytest session starts on the same machine."""
    path = Path(tempfile.mkdtemp(prefix="dsync-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_url(service_dir: Path) -> Iterator[str]:
    configured = os.environ.get("DSYNC_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(service_dir / "postgres" / "data")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def template_database(pg_admin_url: str) -> Iterator[str]:
    """A migrated database that every test clones (CREATE DATABASE ... TEMPLATE)."""
    name = f"dsync_template_{os.getpid()}"

    asyncio.run(migrated_database(pg_admin_url, name))
    yield name
    asyncio.run(drop_database(pg_admin_url, name))


@pytest.fixture
async def empty_database_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A database with nothing in it (for migration tests)."""
    async with own_database(pg_admin_url) as url:
        yield url


@pytest.fixture
async def database_url(pg_admin_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database of this test's own."""
    async with own_database(pg_admin_url, template_database) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(service_dir: Path) -> Iterator[str]:
    configured = os.environ.get("DSYNC_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    broker = EmbeddedBroker(service_dir / "broker.log")
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture
async def topic(kafka_bootstrap: str) -> str:
    """This test's events topic; its dead-letter and changes topics are named after it."""
    name = f"dsync.test.{uuid.uuid4().hex[:12]}"
    await ensure_topics(kafka_bootstrap, {name: 3, f"{name}.dlq": 1, f"{name}.changes": 3})
    return name


@pytest.fixture
def worker_settings(database_url: str, kafka_bootstrap: str, topic: str) -> Settings:
    """Settings for a worker of this test's own database, topic and consumer group."""
    return settings_for(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        events_topic=topic,
        dead_letter_topic=f"{topic}.dlq",
        changes_topic=f"{topic}.changes",
        worker_group_id=f"dsync-test-{uuid.uuid4().hex[:8]}",
    )
