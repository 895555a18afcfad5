"""`python -m bench.loadgen`: signed WorkOS webhooks over keep-alive loopback connections,
run as its own process so it does not share an event loop (or a core) with the server.

Two modes:
  closed loop  `--connections N` each send, wait for the answer, send the next, for
               `--duration` seconds or until `--count` requests were answered: max throughput.
  open loop    `--rate R`: request i is due at start + i/R whatever happened before; its
               latency counts from that due time, so a stalled server shows up as latency
               instead of silently lowering the offered load (coordinated omission).

Bodies come from `--bodies` (one JSON document a line), sent in order, cycled with
`--cycle`. Each request is signed just before it is written (the secret comes from
BENCH_WEBHOOK_SECRET), so the timestamp is always fresh however long the run: HMAC of a
1 KB body costs microseconds next to a round trip. The summary (JSON, stdout) includes the
generator's own CPU use, to show it was not the bottleneck; `--record` writes one
`[index, due, done, status]` row a request (epoch seconds) for latency joins.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.http1 import Connection, Target, request_bytes
from dsync import eventloop

SECRET_ENV = "BENCH_WEBHOOK_SECRET"  # noqa: S105 - the variable's name, not a secret


@dataclass(frozen=True, slots=True)
class Plan:
    connections: int
    duration: float | None  # seconds; None: until `count`
    count: int | None  # requests; None: until `duration`
    rate: float | None  # requests/s; None: closed loop
    cycle: bool  # reuse the bodies when the run needs more than there are


@dataclass(slots=True)
class Results:
    """One row a finished request: latency in seconds and the answer's status."""

    due: list[float] = field(default_factory=list)  # perf_counter of the (scheduled) send
    latency: list[float] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    index: list[int] = field(default_factory=list)

    def add(self, index: int, due: float, done: float, status: str) -> None:
        self.index.append(index)
        self.due.append(due)
        self.latency.append(done - due)
        self.status.append(status)


def indices(plan: Plan, bodies: int) -> Iterator[int]:
    """Which body each successive request sends."""
    limit = plan.count if plan.count is not None else (None if plan.cycle else bodies)
    i = 0
    while limit is None or i < limit:
        if i >= bodies and not plan.cycle:
            return
        yield i
        i += 1


async def closed_loop(
    target: Target, secret: str, bodies: Sequence[bytes], plan: Plan, results: Results
) -> None:
    order = indices(plan, len(bodies))
    deadline = None if plan.duration is None else time.perf_counter() + plan.duration

    async def connection() -> None:
        conn = Connection(target)
        try:
            for i in order:  # a shared iterator: each request goes to whichever is free
                started = time.perf_counter()
                if deadline is not None and started >= deadline:
                    return
                payload = request_bytes(target, secret, bodies[i % len(bodies)], time.time())
                status = await conn.send(payload)
                results.add(i, started, time.perf_counter(), status)
        finally:
            conn.close()

    async with asyncio.TaskGroup() as group:
        for _ in range(plan.connections):
            group.create_task(connection())


async def open_loop(
    target: Target, secret: str, bodies: Sequence[bytes], plan: Plan, results: Results
) -> None:
    """Request n is due at start + n/rate; `connections` bounds how many are in flight,
    and a due request waiting for a free connection is already late."""
    assert plan.rate is not None
    rate = plan.rate
    if plan.duration is not None:
        total = int(rate * plan.duration)
        plan = Plan(plan.connections, None, min(total, plan.count or total), rate, plan.cycle)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    start = time.perf_counter() + 0.05

    async def dispatch() -> None:
        for n, i in enumerate(indices(plan, len(bodies))):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((i, due))
        for _ in range(plan.connections):
            queue.put_nowait(None)

    async def connection() -> None:
        conn = Connection(target)
        try:
            while (item := await queue.get()) is not None:
                i, due = item
                payload = request_bytes(target, secret, bodies[i % len(bodies)], time.time())
                status = await conn.send(payload)
                results.add(i, due, time.perf_counter(), status)
        finally:
            conn.close()

    async with asyncio.TaskGroup() as group:
        group.create_task(dispatch())
        for _ in range(plan.connections):
            group.create_task(connection())


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank on a sorted sequence; 0 for an empty one."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def summarize(
    results: Results, plan: Plan, elapsed: float, cpu: float, epoch_offset: float
) -> dict[str, object]:
    """The run in numbers. Latencies in ms; `rate` is 2xx answers over the span from the
    first send to the last answer."""
    statuses = Counter(results.status)
    ok = sum(n for status, n in statuses.items() if status.startswith("2"))
    ordered = sorted(results.latency)
    first = min(results.due, default=0.0)
    last = max((d + lat for d, lat in zip(results.due, results.latency, strict=True)), default=0.0)
    return {
        "mode": "closed" if plan.rate is None else "open",
        "connections": plan.connections,
        "target_rate": plan.rate,
        "count": len(results.status),
        "ok": ok,
        "errors": {status: n for status, n in statuses.items() if not status.startswith("2")},
        "elapsed_s": round(elapsed, 3),
        "rate": round(ok / (last - first), 1) if last > first else 0.0,
        "latency_ms": {
            name: round(percentile(ordered, q) * 1000, 2)
            for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
        },
        "cpu_s": round(cpu, 3),
        "cpu_share": round(cpu / elapsed, 3) if elapsed > 0 else 0.0,
        "first_send_epoch": first + epoch_offset,
        "last_done_epoch": last + epoch_offset,
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(
    target: Target, secret: str, bodies: Sequence[bytes], plan: Plan
) -> tuple[Results, float, float]:
    """The requests' results, the run's wall time and the CPU it took, in seconds."""
    results = Results()
    loop = open_loop if plan.rate is not None else closed_loop
    cpu, started = cpu_seconds(), time.perf_counter()
    await loop(target, secret, bodies, plan, results)
    return results, time.perf_counter() - started, cpu_seconds() - cpu


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/webhooks/workos")
    parser.add_argument("--bodies", type=Path, required=True, help="one JSON body a line")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, help="seconds")
    parser.add_argument("--count", type=int, help="requests")
    parser.add_argument("--rate", type=float, help="requests/s (open loop)")
    parser.add_argument("--cycle", action="store_true", help="reuse bodies when they run out")
    parser.add_argument("--record", type=Path, help="write [index, due, done, status] rows")
    args = parser.parse_args(argv)
    if args.cycle and args.duration is None and args.count is None:
        parser.error("--cycle needs --duration or --count")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        sys.exit(f"loadgen: set {SECRET_ENV} to the server's WorkOS webhook secret")
    bodies = [line for line in args.bodies.read_bytes().split(b"\n") if line]
    if not bodies:
        sys.exit("loadgen: no bodies")
    plan = Plan(args.connections, args.duration, args.count, args.rate, args.cycle)
    target = Target.parse(args.url)
    epoch_offset = time.time() - time.perf_counter()
    # On uvloop with the tuned collector, like the servers it drives: the generator shares
    # the machine's cores with them, and every CPU second it saves is theirs.
    results, elapsed, cpu = eventloop.run(run(target, secret, bodies, plan))
    if args.record is not None:
        rows = [
            [i, round(due + epoch_offset, 6), round(due + lat + epoch_offset, 6), status]
            for i, due, lat, status in zip(
                results.index, results.due, results.latency, results.status, strict=True
            )
        ]
        args.record.write_text(json.dumps(rows))
    print(json.dumps(summarize(results, plan, elapsed, cpu, epoch_offset)))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
