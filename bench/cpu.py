"""Where a figure's CPU went: the CPU seconds each kind of process used between two
moments, per event. Wall-clock rates move with whatever else the shared machine does;
CPU per event moves much less, and it is what capacity planning needs (how many cores a
given event rate takes) and what shows whether a figure is bound by the machine."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

from bench.report import Figure

Reader = Callable[[], float]  # cumulative CPU seconds of one kind of process


def process_seconds(pid: int) -> Reader:
    """A live process: its own user and system time."""
    process = psutil.Process(pid)

    def read() -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    return read


def processes_seconds(pids: list[int]) -> Reader:
    readers = [process_seconds(pid) for pid in pids]
    return lambda: sum(read() for read in readers)


def postgres_seconds(postmaster_pid: int) -> Reader:
    """The postmaster, its live children (backends, background workers) and, through its
    reaped-children times, every child that exited meanwhile (a closed connection)."""
    postmaster = psutil.Process(postmaster_pid)

    def read() -> float:
        times = postmaster.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in postmaster.children():
            try:
                own = child.cpu_times()
            except psutil.NoSuchProcess:  # exited between the listing and the read:
                continue  # its time is in children_* at the next read
            total += own.user + own.system
        return float(total)

    return read


def machine_busy_seconds() -> float:
    """CPU seconds of all cores spent on anything but idling (every process, the kernel)."""
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return float(
        sum(times) - idle - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    )


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU seconds per kind of process over one measured stretch."""

    seconds: dict[str, float]
    machine: float  # every core's busy time, whoever used it
    elapsed: float  # wall-clock seconds of the stretch
    events: int  # handled in the stretch


class CpuMeter:
    """Started before the measured stretch, stopped after it."""

    def __init__(self, readers: Mapping[str, Reader]) -> None:
        self._readers = dict(readers)
        self._start = {name: read() for name, read in self._readers.items()}
        self._machine = machine_busy_seconds()

    def stop(self, elapsed: float, events: int, **extra: float) -> Usage:
        """`extra`: CPU seconds measured by a process itself (the load generator)."""
        seconds = {name: read() - self._start[name] for name, read in self._readers.items()}
        return Usage(seconds | extra, machine_busy_seconds() - self._machine, elapsed, events)


Reading = tuple[float, dict[str, float]]  # (monotonic time, cumulative CPU seconds by name)


def shares(readings: Sequence[Reading]) -> dict[str, list[float]]:
    """The share of a core each kind of process used between consecutive readings."""
    found: dict[str, list[float]] = {}
    for (start, before), (end, after) in itertools.pairwise(readings):
        elapsed = end - start
        for name, seconds in after.items():
            share = (seconds - before[name]) / elapsed if elapsed > 0 else 0.0
            found.setdefault(name, []).append(share)
    return found


@dataclass
class Timeline:
    """Readings taken when `sampled` opens and every `period` seconds after, until it closes
    (a last, shorter stretch is left out)."""

    readings: list[Reading] = field(default_factory=list)

    def shares(self) -> dict[str, list[float]]:
        return shares(self.readings)


@contextlib.asynccontextmanager
async def sampled(readers: Mapping[str, Reader], period: float) -> AsyncIterator[Timeline]:
    """CPU of each kind of process over time, to show a cost that grows during a run
    (the embedded broker's in B3) rather than only its average."""
    timeline = Timeline()

    def read() -> None:
        timeline.readings.append((time.monotonic(), {n: r() for n, r in readers.items()}))

    async def every_period() -> None:
        while True:
            await asyncio.sleep(period)
            read()

    read()
    task = asyncio.create_task(every_period())
    try:
        yield timeline
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def cpu_figure(figure_id: str, what: str, usage: Usage) -> Figure:
    """CPU microseconds per event, each kind of process and their sum; no target."""
    events = max(usage.events, 1)
    per_event = {name: 1e6 * s / events for name, s in usage.seconds.items()}
    cores = psutil.cpu_count() or 1
    busy = usage.machine / usage.elapsed if usage.elapsed > 0 else 0.0
    detail = ", ".join(f"{name} {us:,.0f}" for name, us in per_event.items())
    detail += (
        f"; the machine's {cores} cores were {busy / cores:.0%} busy"
        f" ({1e6 * usage.machine / events:,.0f} µs an event, every process and the kernel)"
    )
    numbers = {f"{name}_us_per_event": round(us, 1) for name, us in per_event.items()}
    numbers["machine_busy_us_per_event"] = round(1e6 * usage.machine / events, 1)
    numbers["machine_busy_share"] = round(busy / cores, 3)
    return Figure(
        figure_id,
        what,
        round(sum(per_event.values())),
        "µs of CPU an event",
        "none",
        None,
        None,
        "none (where the CPU goes)",
        detail=detail,
        numbers=numbers,
    )
