"""B10: SCIM answers, through a real `dsync scim` and `dsync worker` (bench/scim_service.py).

  create  POST /Users at a steady rate (open loop: request i is due at start + i/rate and
          its latency counts from then), each answered 201 only once the worker committed
          it, so the figure is the IdP's wait for a committed resource. Compared with B3's
          end-to-end latency (webhook sent -> committed) of the same run.
  lookup  GET /Users?filter=userName eq "..." on a directory of `users` SCIM users, one
          request at a time. The directory is seeded in SQL straight into the SCIM read
          model (dsync_internal.scim_resources, what the GET reads): creating 100,000
          users through the pipeline would take minutes and measure B10's first half again.

The requests come from this process (httpx on its own event loop); at 50 requests/s that
costs little next to the server's work, and the generator's CPU share is reported.
"""

from __future__ import annotations

import asyncio
import random
import resource
import time
import uuid
from typing import Any

import asyncpg
import httpx

from bench.cpu import Reader, postgres_seconds, process_seconds
from bench.loadgen import percentile
from bench.report import Figure
from bench.scim_service import ScimDirectory, scim_pipeline
from bench.services import Context

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
LOOKUPS = 1_000
CREATE_TARGET_MS = 150.0
LOOKUP_TARGET_MS = 20.0


def _user(user_name: str) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Bench", "familyName": "User"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "active": True,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _open_loop(
    client: httpx.AsyncClient, rate: float, seconds: float
) -> tuple[list[float], list[int], float]:
    """Latencies (ms, from each request's due time) and statuses; the generator's CPU share."""
    count = int(rate * seconds)
    run = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    statuses: list[int] = []

    async def one(i: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        answer = await client.post("/Users", json=_user(f"b10-{run}-{i}@bench.test"))
        latencies.append((time.perf_counter() - due) * 1000)
        statuses.append(answer.status_code)

    cpu, start = _cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(one(i, start + i / rate) for i in range(count)))
    share = (_cpu_seconds() - cpu) / (time.perf_counter() - start)
    return sorted(latencies), statuses, share


async def _seed(database: str, directory_id: str, users: int) -> list[str]:
    """`users` SCIM users in the directory's read model; their userNames."""
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(
            """INSERT INTO dsync_internal.scim_resources
                   (id, directory_id, kind, name, external_id, version, resource,
                    created_at, updated_at)
               SELECT gen_random_uuid()::text, $1, 'User', 'seed' || n || '@bench.test',
                      'ext' || n, 1,
                      jsonb_build_object('userName', 'seed' || n || '@bench.test',
                                         'active', true,
                                         'name', jsonb_build_object('givenName', 'Seed',
                                                                    'familyName', n::text),
                                         'emails', jsonb_build_array(jsonb_build_object(
                                             'value', 'seed' || n || '@bench.test',
                                             'type', 'work', 'primary', true))),
                      now(), now()
                 FROM generate_series(1, $2) AS n""",
            directory_id,
            users,
        )
        await conn.execute("ANALYZE dsync_internal.scim_resources")
    finally:
        await conn.close()
    return [f"seed{n}@bench.test" for n in range(1, users + 1)]


async def _lookups(client: httpx.AsyncClient, names: list[str], count: int) -> list[float]:
    """Sorted latencies (ms) of `count` sequential filter GETs for random existing names,
    each in upper case (the filter is case-insensitive) and each required to find one."""
    chosen = random.Random(10).choices(names, k=count)
    latencies = []
    for name in chosen:
        started = time.perf_counter()
        found = await client.get("/Users", params={"filter": f'userName eq "{name.upper()}"'})
        latencies.append((time.perf_counter() - started) * 1000)
        if found.status_code != 200 or found.json()["totalResults"] != 1:
            raise RuntimeError(f"the lookup was answered {found.status_code}: {found.text}")
    return sorted(latencies)


def _client(directory: ScimDirectory) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {directory.token}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    return httpx.AsyncClient(
        base_url=directory.base_url, headers=headers, timeout=60, limits=limits
    )


async def scim_figures(ctx: Context, rate: float, seconds: float, users: int) -> list[Figure]:
    async with scim_pipeline(ctx, "b10") as running, _client(running.directory) as client:
        readers: dict[str, Reader] = {
            "scim": process_seconds(running.scim_pid),
            "worker": process_seconds(running.worker_pid),
            "PostgreSQL": postgres_seconds(ctx.postgres_pid),
            "broker": process_seconds(ctx.broker_pid),
        }
        before = {name: read() for name, read in readers.items()}
        created, statuses, share = await _open_loop(client, rate, seconds)
        per_create = {
            name: (read() - before[name]) / max(1, len(statuses)) * 1e6
            for name, read in readers.items()
        }
        names = await _seed(running.database, running.directory.directory_id, users)
        found = await _lookups(client, names, min(LOOKUPS, users))
    refused = sum(1 for status in statuses if status != 201)
    if refused:
        raise RuntimeError(f"{refused} of {len(statuses)} SCIM creates were not answered 201")
    return [
        _create_figure(created, rate, seconds, share, per_create),
        _lookup_figure(found, users),
    ]


def _create_figure(
    latencies: list[float], rate: float, seconds: float, share: float, cpu: dict[str, float]
) -> Figure:
    """`cpu`: microseconds of CPU per create, by process (the load-independent number)."""
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    cpu_text = ", ".join(f"{name} {us:,.0f}" for name, us in cpu.items())
    return Figure(
        "B10",
        f"SCIM POST /Users answered with the committed resource, {rate:g}/s for {seconds:g} s",
        round(p99, 1),
        "ms p99",
        "B3 end to end p99 (same run)",
        None,
        None,
        f"p99 <= {CREATE_TARGET_MS:g} ms",
        met=p99 <= CREATE_TARGET_MS,
        detail=f"p50 {p50:.1f} ms, max {latencies[-1]:.1f} ms; {len(latencies):,} creates, "
        f"all 201; generator CPU share {share:.2f}; CPU per create (µs): {cpu_text}",
        numbers={
            "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1),
            "count": len(latencies),
            **{f"{name.lower()}_cpu_us_per_create": round(us) for name, us in cpu.items()},
        },
    )


def _lookup_figure(latencies: list[float], users: int) -> Figure:
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return Figure(
        "B10",
        f'SCIM GET /Users?filter=userName eq "..." on a {users:,}-user directory',
        round(p99, 1),
        "ms p99",
        "none (absolute)",
        None,
        None,
        f"p99 <= {LOOKUP_TARGET_MS:g} ms",
        met=p99 <= LOOKUP_TARGET_MS,
        detail=f"p50 {p50:.1f} ms over {len(latencies):,} sequential lookups (upper-cased names)",
        numbers={"p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "count": len(latencies)},
    )
