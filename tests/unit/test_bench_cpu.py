"""The CPU accounting of the benchmark (bench/cpu.py): what it reads is real CPU time of
the named processes, including children that exited, and the per-event arithmetic."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from bench.cpu import (
    CpuMeter,
    Usage,
    cpu_figure,
    postgres_seconds,
    process_seconds,
    sampled,
    shares,
)

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass"


def test_a_busy_process_is_charged_its_cpu_time() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN.format(seconds=0.3) + "\ntime.sleep(5)"])
    try:
        meter = CpuMeter({"busy": process_seconds(child.pid)})
        for _ in range(100):  # until the burn is done (it then sleeps)
            usage = meter.stop(1.0, 1)
            if usage.seconds["busy"] >= 0.2:
                break
            time.sleep(0.05)
        # 0.3 s of CPU from its start, less what it used before the meter started.
        assert 0.2 <= usage.seconds["busy"] < 1.0
    finally:
        child.kill()
        child.wait()


def test_children_that_exit_are_still_counted_through_their_parent() -> None:
    """As PostgreSQL's backends are: a child that ran and exited is in the parent's
    reaped-children times."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"subprocess.run([sys.executable, '-c', {BURN.format(seconds=0.4)!r}])\n"
            "time.sleep(5)",
        ]
    )
    try:
        read = postgres_seconds(parent.pid)
        before = read()
        for _ in range(100):  # until the grandchild has burned and exited
            if read() - before >= 0.3:
                break
            time.sleep(0.05)
        assert read() - before >= 0.3
    finally:
        parent.kill()
        parent.wait()


def test_per_event_figure_names_each_kind_and_sums_them() -> None:
    usage = Usage({"worker": 2.0, "PostgreSQL": 3.0}, machine=6.0, elapsed=4.0, events=10_000)

    figure = cpu_figure("B2 CPU", "during B2", usage)

    assert figure.value == 500  # (2 + 3) s / 10,000 events = 500 µs
    assert figure.numbers["worker_us_per_event"] == 200.0
    assert figure.numbers["PostgreSQL_us_per_event"] == 300.0
    assert figure.numbers["machine_busy_us_per_event"] == 600.0
    assert "worker 200" in figure.detail
    assert "PostgreSQL 300" in figure.detail
    assert figure.met is None


def test_shares_are_cpu_seconds_over_wall_seconds_between_readings() -> None:
    readings = [
        (10.0, {"broker": 1.0, "worker": 5.0}),
        (15.0, {"broker": 2.0, "worker": 6.5}),
        (20.0, {"broker": 6.0, "worker": 7.0}),
    ]
    assert shares(readings) == {"broker": [0.2, 0.8], "worker": [0.3, 0.1]}
    assert shares(readings[:1]) == {}


async def test_sampled_reads_every_period_until_closed() -> None:
    calls = 0

    def read() -> float:
        nonlocal calls
        calls += 1
        return float(calls)

    async with sampled({"fake": read}, 0.02) as timeline:
        await asyncio.sleep(0.11)
    taken = len(timeline.readings)
    await asyncio.sleep(0.05)
    assert len(timeline.readings) == taken  # nothing after it closed
    assert taken >= 3  # the opening reading and one per period
    windows = timeline.shares()["fake"]
    assert len(windows) == taken - 1
    assert all(share > 0 for share in windows)
