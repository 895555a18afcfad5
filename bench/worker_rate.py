"""B2 (worker throughput against COPY), B5 (rebuild against B2) and the workers' peak RSS
during B2: a mixed stream is produced to the topic first, then real `dsync worker`
processes in one consumer group drain it (and one process alone, for its own rate), and
`dsync rebuild` rebuilds the tables from it."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bench.cpu import (
    CpuMeter,
    Usage,
    cpu_figure,
    postgres_seconds,
    process_seconds,
    processes_seconds,
)
from bench.database import consumed, copy_end_state, fresh_database, write_profile
from bench.report import Figure
from bench.services import Context, PeakRss, child_env, process, workers
from bench.streams import mixed_stream
from dsync.topics import ensure_topics
from tests.support import produce

TOPIC = "bench.b2"


async def worker_figures(ctx: Context, events: int, processes: int) -> list[Figure]:
    worker_db = await fresh_database(ctx.admin_url, "bench_b2")
    copy_db = await fresh_database(ctx.admin_url, "bench_b2_copy")
    await ensure_topics(ctx.bootstrap, {TOPIC: 6})
    await produce(ctx.bootstrap, TOPIC, mixed_stream(events))

    worker_seconds, peak_rss, usage = await _drain(ctx, worker_db, events, processes)
    await write_profile(worker_db, "B2")
    single: list[Figure] = []
    if processes > 1:  # what one process does alone, for capacity planning
        single_db = await fresh_database(ctx.admin_url, "bench_b2_one")
        single_seconds, _, _ = await _drain(ctx, single_db, events, 1)
        single.append(
            Figure(
                "B2 (1 process)",
                "the same stream applied by one worker process",
                round(events / single_seconds),
                "events/s",
                "none",
                None,
                None,
                "none",
                detail=f"{single_seconds:.2f} s",
            )
        )
    copy_seconds, copied_rows = await copy_end_state(worker_db, copy_db)
    rebuild_seconds = await _rebuild(ctx, worker_db)

    worker_rate = events / worker_seconds
    rebuild_rate = events / rebuild_seconds
    return [
        Figure(
            "B2",
            f"worker: {events:,} mixed events applied (10% duplicates, 5% stale) by "
            f"{processes} worker process{'es' if processes > 1 else ''}",
            round(worker_rate),
            "events/s",
            f"COPY of the {copied_rows:,} resulting rows",
            round(copy_seconds, 3),
            round(copy_seconds / worker_seconds, 3),
            ">= 20,000 events/s and >= 0.25x COPY time",
            met=worker_rate >= 20_000 and copy_seconds / worker_seconds >= 0.25,
            detail=f"{worker_seconds:.2f} s",
            baseline_unit="s",
        ),
        cpu_figure(
            "B2 CPU",
            f"CPU per event during B2 ({processes} worker process"
            f"{'es' if processes > 1 else ''}), by process",
            usage,
        ),
        *single,
        Figure(
            "B5",
            "`dsync rebuild`: the tables rebuilt from the whole topic in one transaction "
            "(the command's run time, start-up included)",
            round(rebuild_rate),
            "events/s",
            "B2 worker rate",
            round(worker_rate),
            round(rebuild_rate / worker_rate, 3),
            ">= 1.0x B2",
            met=rebuild_rate >= worker_rate,
            baseline_unit="events/s",
        ),
        Figure(
            "B7 (B2)",
            "worker peak RSS during B2 (B7 proper is measured during B4)",
            round(peak_rss / 2**20, 1),
            "MiB",
            "none",
            None,
            None,
            "<= 200 MB",
            met=peak_rss <= 200e6,
        ),
    ]


async def _drain(ctx: Context, database: str, events: int, count: int) -> tuple[float, int, Usage]:
    """Time from the workers' first applied batch to the last, their peak RSS, and the CPU
    used meanwhile (of the events applied after the first batch)."""
    conn = await asyncpg.connect(database)
    try:
        async with workers(database, ctx.bootstrap, TOPIC, ctx.workdir, count) as children:
            pids = [child.pid for child in children]
            rss = PeakRss(*pids)
            readers = {
                "workers": processes_seconds(pids),
                "PostgreSQL": postgres_seconds(ctx.postgres_pid),
                "broker": process_seconds(ctx.broker_pid),
            }
            first = None
            meter = CpuMeter(readers)
            applied_before = 0
            while (done := await consumed(conn)) < events:
                for child in children:
                    if child.returncode is not None:
                        raise RuntimeError(f"a worker exited ({child.returncode}); see its log")
                if done and first is None:
                    first = time.perf_counter() - 0.01  # it finished within the last poll
                    meter, applied_before = CpuMeter(readers), done
                await asyncio.sleep(0.01)
            last = time.perf_counter()
            first = first if first is not None else last - 0.01
            usage = meter.stop(last - first, events - applied_before)
            peak = await rss.stop()
    finally:
        await conn.close()
    return last - first, peak, usage


async def _rebuild(ctx: Context, database: str) -> float:
    """`dsync rebuild --yes` as an operator runs it, a process of its own; its run time."""
    env = child_env(
        database_url=database, kafka_bootstrap_servers=ctx.bootstrap, events_topic=TOPIC
    )
    log = ctx.workdir / "rebuild.log"
    started = time.perf_counter()
    async with process(["-m", "dsync", "rebuild", "--yes"], env, log) as child:
        code = await child.wait()
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"dsync rebuild exited ({code}); see {log}")
    return seconds
