"""Fixtures shared by the integration tests of one area (the session-wide ones are in
tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dsync.settings import Settings
from tests.access_support import AccessHarness
from tests.support import running_worker
from worker.store import connect


@pytest.fixture
async def access(worker_settings: Settings, database_url: str) -> AsyncIterator[AccessHarness]:
    """A running worker on this test's database, and a connection to read and administer
    the access model."""
    conn = await connect(database_url)
    try:
        async with running_worker(worker_settings):
            yield AccessHarness(worker_settings, conn)
    finally:
        await conn.close()
