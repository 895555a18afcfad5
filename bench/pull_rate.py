"""B9: the puller's rate, from the WorkOS stand-in's Events API into the events topic,
against B2 (the workers' apply rate) measured in the same run: the puller must never be
the bottleneck of a pull-only deployment.

A real `dsync pull workos --once` process drains `events` events (a directory's users,
groups and memberships; one page of 100 per request, as the real API serves them) from
the stand-in, which runs in this process on its own thread. The rate is counted from the
puller's `pull.lock_acquired` log line to its `pull.drained` line (start-up excluded; the
whole run's time is in the detail). The stand-in answers at once: the real API's latency
per page (unknown; tens of milliseconds over the internet) would lower the rate, and a
deployment then pulls at most 100 events per round trip.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.database import fresh_database
from bench.report import Figure
from bench.services import Context, child_env, process
from dsync.topics import ensure_topics
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth

TOPIC = "bench.b9"
API_KEY = "sk_bench_puller_0123456789"  # the loopback stand-in's key


def history(events: int) -> WorkOSTruth:
    """`events` events: users of one directory, with a group per 100 users and each user
    added to its group (one event in three is a membership)."""
    truth = WorkOSTruth()
    directory = truth.add_directory()
    group = ""
    made = 1
    while made < events:
        if made % 300 == 1:
            group = truth.add_group(directory, f"group {made}")
            made += 1
            continue
        user = truth.add_user(directory, f"user{made}@example.com")
        made += 1
        if made < events:
            truth.add_member(group, user)
            made += 1
    return truth


async def puller_figures(ctx: Context, events: int) -> list[Figure]:
    database = await fresh_database(ctx.admin_url, "bench_b9")
    await ensure_topics(ctx.bootstrap, {TOPIC: 6})
    truth = history(events)
    log = ctx.workdir / "pull-b9.log"
    with WorkOSStandIn.running(API_KEY, truth=truth) as standin:
        env = child_env(
            database_url=database,
            kafka_bootstrap_servers=ctx.bootstrap,
            events_topic=TOPIC,
            workos_api_key=API_KEY,
            workos_api_base_url=standin.url,
            log_format="json",
        )
        start = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        args = ["-m", "dsync", "pull", "workos", "--once", "--metrics-port", "0"]
        began, children_cpu, own_cpu = time.perf_counter(), _children_cpu(), time.process_time()
        async with process([*args, "--range-start", start], env, log) as child:
            code = await child.wait()
        wall = time.perf_counter() - began
        puller_cpu = _children_cpu() - children_cpu  # the puller is the only child reaped
        standin_cpu = time.process_time() - own_cpu  # this process: the stand-in's thread
        requests = standin.traffic.total
    if code != 0:
        raise RuntimeError(f"the puller exited with {code}; see {log}")
    seconds = _pulling_seconds(log)
    return [
        Figure(
            "B9",
            f"puller: {events:,} events from the WorkOS stand-in's Events API to the topic "
            "(`dsync pull workos --once`, pages of 100, cursor stored per page)",
            round(events / seconds),
            "events/s",
            "B2 worker rate",
            None,  # filled in by with_b2_baseline
            None,
            ">= 1.0x B2",
            detail=(
                f"{seconds:.2f} s pulling, {wall:.2f} s with start-up, {requests} requests; "
                f"CPU an event: puller {puller_cpu / events * 1e6:.0f} µs (start-up "
                f"included), stand-in {standin_cpu / events * 1e6:.0f} µs"
            ),
            baseline_unit="events/s",
        )
    ]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pulling_seconds(log: Path) -> float:
    moments: dict[str, datetime] = {}
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") in ("pull.lock_acquired", "pull.drained"):
                moments[entry["event"]] = datetime.fromisoformat(entry["timestamp"])
    return (moments["pull.drained"] - moments["pull.lock_acquired"]).total_seconds()


def with_b2_baseline(figures: list[Figure]) -> list[Figure]:
    """B9 compared with B2 of the same run (bench.run runs B2 whenever B9 is asked for)."""
    b2 = next((f for f in figures if f.id == "B2"), None)
    if b2 is None:
        return figures
    result = []
    for figure in figures:
        if figure.id == "B9":
            ratio = round(figure.value / b2.value, 3)
            figure = replace(figure, baseline_value=b2.value, ratio=ratio, met=ratio >= 1)
        result.append(figure)
    return result
