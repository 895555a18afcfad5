"""B8: reconcile a directory (B4's size: 100,000 users, 1,000 groups, 200,000 memberships)
with 1% drift against the WorkOS stand-in without its rate limit: wall time and CPU per
object of the run (listing, compare, corrective events acknowledged), against B4 (the same
directory sent as webhooks, same run: bench/run.py fills the ratio), target at most 0.5x.
Then the worker applies the repairs and a second run must find no drift. Also: the time
under the documented limits (WorkOS /directory_users 4 requests/s per directory, 6,000 per
minute per key) computed from the requests counted, and measured on a directory a fiftieth
of the size with the stand-in enforcing the limit. Memory: the reconciler's RSS during the
timed run, and the peak of Python allocations (tracemalloc) during the second run, which
lists the same directory: tracemalloc multiplies the reconciler's CPU by about four, so it
never runs in the timed one."""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from datetime import datetime

import asyncpg
from pydantic import SecretStr

from bench.database import fresh_database, wait_consumed
from bench.reconcile_truth import API_KEY, DIRECTORY, OLD, ORGANIZATION, Shape, StandInProcess
from bench.report import Figure
from bench.services import Context, PeakRss, worker
from dsync.settings import Settings, load_settings
from dsync.topics import ensure_topics
from reconcile.main import reconcile
from reconcile.run import Outcome

TOPIC = "bench.b8"
APPLY_TIMEOUT = 600.0

_DIRECTORY = """INSERT INTO dsync.directories
    VALUES ($1, 'workos', $2, 'Bench', 'okta scim v2.0', 'active', $3, $3, NULL)"""
_USERS = """INSERT INTO dsync.users
    SELECT 'directory_user_b8' || lpad(n::text, 8, '0'), 'workos', $1, $2, 'idp' || n,
           'user' || n || '@bench.example', 'First' || n, 'Bench', 'active', '{}'::jsonb,
           $3, $3, NULL
    FROM generate_series(0, $4 - 1) AS n"""
_GROUPS = """INSERT INTO dsync.groups
    SELECT 'directory_group_b8' || lpad(n::text, 6, '0'), 'workos', $1, $2, 'gidp' || n,
           'Group ' || n, $3, $3, NULL
    FROM generate_series(0, $4 - 1) AS n"""
_MEMBERSHIPS = """INSERT INTO dsync_internal.memberships
        (provider, directory_id, group_id, user_id, present, event_at)
    SELECT 'workos', $1, 'directory_group_b8' || lpad(((k + 7 * (k / $3)) % $4)::text, 6, '0'),
           'directory_user_b8' || lpad((k % $3)::text, 8, '0'), true, $2
    FROM generate_series(0, $5 - 1) AS k"""


async def load_tables(database: str, shape: Shape) -> None:
    """dsync's side before the drift, set-based (B8 measures reconciliation, not B4). The
    same objects as bench.reconcile_truth builds (Shape.pair is the SQL's formula)."""
    old = datetime.fromisoformat(OLD)
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(_DIRECTORY, DIRECTORY, ORGANIZATION, old)
        await conn.execute(_USERS, DIRECTORY, ORGANIZATION, old, shape.users)
        await conn.execute(_GROUPS, DIRECTORY, ORGANIZATION, old, shape.groups)
        args = (shape.users, shape.groups, shape.memberships)
        await conn.execute(_MEMBERSHIPS, DIRECTORY, old, *args)
    finally:
        await conn.close()


def _settings(ctx: Context, database: str, url: str) -> Settings:
    return load_settings(
        {},
        database_url=database,
        kafka_bootstrap_servers=ctx.bootstrap,
        events_topic=TOPIC,
        workos_api_key=SecretStr(API_KEY),
        workos_api_base_url=url,
    )


async def _timed(settings: Settings, *, limited: bool) -> tuple[Outcome, float, float]:
    """One run: (outcome, wall s, this thread's CPU s)."""
    started, cpu = time.perf_counter(), time.thread_time()
    runs = await reconcile(settings, "workos", [DIRECTORY], dry_run=False, limited=limited)
    [outcome] = runs.outcomes
    return outcome, time.perf_counter() - started, time.thread_time() - cpu


async def _traced(settings: Settings) -> tuple[Outcome, int]:
    """One run under tracemalloc: (outcome, peak traced bytes)."""
    tracemalloc.start()
    try:
        runs = await reconcile(settings, "workos", [DIRECTORY], dry_run=False, limited=False)
        return runs.outcomes[0], tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def reconcile_figures(
    ctx: Context, users: int, groups: int, memberships: int
) -> list[Figure]:
    shape = Shape(users, groups, memberships)
    database = await fresh_database(ctx.admin_url, "bench_b8")
    await load_tables(database, shape)
    standin = await asyncio.to_thread(StandInProcess, shape, rate_limited=False)
    settings = _settings(ctx, database, standin.url)
    await ensure_topics(ctx.bootstrap, settings.topic_partitions())
    rss = PeakRss(os.getpid())
    try:
        first, wall, cpu = await _timed(settings, limited=False)
        peak_rss = await rss.stop()
        await asyncio.to_thread(standin.count)  # the first run's requests only
        produced = sum(first.tally.repaired.values())
        async with worker(database, ctx.bootstrap, TOPIC, ctx.workdir):
            applying = time.perf_counter()
            await wait_consumed(database, produced, APPLY_TIMEOUT)
            applied = time.perf_counter() - applying
        second, traced = await _traced(settings)
    finally:
        standin.stop()
    objects = users + groups + memberships
    requests = standin.requests
    per_directory = requests.get("/directory_users", 0)
    computed = max(per_directory / 4.0, sum(requests.values()) / 100.0)
    measured = await _under_limits(
        ctx, Shape(max(users // 50, 100), max(groups // 50, 10), max(memberships // 50, 200))
    )
    return [
        Figure(
            "B8",
            f"reconcile {users:,} users, {groups:,} groups, {memberships:,} memberships with 1%"
            " drift against the WorkOS stand-in without rate limit (repairs acknowledged)",
            round(wall, 2),
            "s",
            "B4 (the same directory as webhooks), same run",
            None,
            None,
            "<= 0.5x B4; the second run finds no drift",
            met=second.tally.total == 0,
            detail=(
                f"{cpu / objects * 1e6:.1f} µs CPU per object in the reconciler;"
                f" drift {dict(first.tally.found)}; {produced} corrective events applied in"
                f" {applied:.1f} s; second run drift {second.tally.total};"
                f" {sum(requests.values())} requests; RSS {peak_rss / 2**20:.0f} MiB, Python"
                f" heap peak {traced / 2**20:.1f} MiB (second run); under the documented"
                f" limits: computed"
                f" {computed:.0f} s, measured {measured[0]:.1f} s on {measured[1]}"
            ),
            numbers={
                "seconds": round(wall, 3),
                "cpu_us_per_object": round(cpu / objects * 1e6, 2),
                "requests": sum(requests.values()),
                "corrective_events": produced,
                "apply_seconds": round(applied, 3),
                "traced_peak_mib": round(traced / 2**20, 2),
                "rss_peak_mib": round(peak_rss / 2**20, 1),
                "rate_limited_computed_seconds": round(computed, 1),
                "rate_limited_measured_seconds": round(measured[0], 2),
            },
        )
    ]


async def _under_limits(ctx: Context, shape: Shape) -> tuple[float, str]:
    """The same run with the stand-in enforcing 4 requests/s per directory."""
    database = await fresh_database(ctx.admin_url, "bench_b8_limited")
    await load_tables(database, shape)
    standin = await asyncio.to_thread(StandInProcess, shape, rate_limited=True)
    try:
        _, wall, _ = await _timed(_settings(ctx, database, standin.url), limited=True)
        await asyncio.to_thread(standin.count)
    finally:
        standin.stop()
    limited = standin.requests.get("/directory_users", 0)
    refused = standin.statuses.get(429, 0)
    return wall, f"{shape.users:,} users ({limited} /directory_users requests, {refused} got 429)"
