"""Helpers of the puller's tests (tests/integration/test_pull*.py) and of bench B9: run a
puller against the WorkOS stand-in, read what it produced, compare PostgreSQL with the
stand-in's truth."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from dsync.provider_http import RetryPolicy
from dsync.settings import Settings
from dsync.source_metrics import PullMetrics
from pull.loop import PullOptions, PullTotals
from pull.main import run_puller
from tests.processes import QUIET, DsyncProcess
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth
from tests.support import consume_all

API_KEY = "sk_test_puller_0123456789"
FAST_RETRIES = RetryPolicy(max_attempts=8, base_delay=0.05, max_delay=0.2, max_retry_after=2.0)
LONG_AGO = datetime.now(UTC) - timedelta(days=1)


def pull_settings(settings: Settings, standin: WorkOSStandIn) -> Settings:
    values = {**dict(settings), "workos_api_key": API_KEY, "workos_api_base_url": standin.url}
    return Settings.model_validate(values)


def options(settings: Settings, **values: Any) -> PullOptions:
    base: dict[str, Any] = {
        "account": "default",
        "range_start": LONG_AGO,
        "topic": settings.events_topic,
        "interval": 0.05,
        "once": True,
    }
    return PullOptions(**{**base, **values})


async def pull_once(
    settings: Settings, metrics: PullMetrics | None = None, **values: Any
) -> PullTotals:
    """A puller that drains what the stand-in shows now, in this event loop."""
    return await run_puller(
        settings,
        options(settings, **values),
        asyncio.Event(),
        metrics or PullMetrics(),
        FAST_RETRIES,
    )


async def produced_ids(bootstrap: str, topic: str, expected: int, within: float = 20) -> list[str]:
    """The event-id header of every record of `topic`, in topic order per partition; waits
    for at least `expected` records, then reads what else arrives within half a second."""
    records = await consume_all(bootstrap, topic, expected, within, linger=0.5)
    return [dict(record.headers)["dsync-event-id"].decode() for record in records]


def event_ids(truth: WorkOSTruth) -> list[str]:
    with truth.lock:
        return [stored.event["id"] for stored in truth.events]


def duplicates(ids: list[str]) -> int:
    return sum(count - 1 for count in Counter(ids).values())


async def database_view(db: asyncpg.Connection) -> dict[str, Any]:
    """Live users (id, email, state), groups (id, name) and memberships in PostgreSQL."""
    users = await db.fetch("SELECT id, email, state FROM dsync.users WHERE deleted_at IS NULL")
    groups = await db.fetch("SELECT id, name FROM dsync.groups WHERE deleted_at IS NULL")
    members = await db.fetch("SELECT group_id, user_id FROM dsync.group_memberships")
    return {
        "users": sorted(tuple(r) for r in users),
        "groups": sorted(tuple(r) for r in groups),
        "memberships": sorted(tuple(r) for r in members),
    }


def truth_view(truth: WorkOSTruth) -> dict[str, Any]:
    with truth.lock:
        return {
            "users": sorted((u["id"], u["email"], u["state"]) for u in truth.users.values()),
            "groups": sorted((g["id"], g["name"]) for g in truth.groups.values()),
            "memberships": sorted(truth.memberships),
        }


async def start_puller_process(settings: Settings, *args: str) -> DsyncProcess:
    """`dsync pull workos ARGS` as a real process (for SIGKILL and lock tests)."""
    env = {
        **os.environ,
        **QUIET,
        "DSYNC_LOG_FORMAT": "json",
        "DSYNC_LOG_LEVEL": "info",
        "DSYNC_DATABASE_URL": settings.require_database_url(),
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.require_bootstrap_servers(),
        "DSYNC_EVENTS_TOPIC": settings.events_topic,
        "DSYNC_WORKOS_API_KEY": API_KEY,
        "DSYNC_WORKOS_API_BASE_URL": settings.workos_api_base_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dsync",
        "pull",
        "workos",
        "--metrics-port",
        "0",
        "--interval",
        "0.1",
        "--range-start",
        LONG_AGO.isoformat(),
        *args,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    return DsyncProcess(process)


async def stored_cursor(db: asyncpg.Connection, account: str = "default") -> str | None:
    value = await db.fetchval(
        "SELECT cursor FROM dsync_internal.pull_cursors WHERE provider = 'workos' AND account = $1",
        account,
    )
    return None if value is None else str(value)
