"""B4: an initial sync sent as signed webhooks, as fast as the real ingress accepts them,
with the real worker applying them meanwhile; finished when the last row is committed.
Baseline: COPY of the same final rows. B7: the worker's peak RSS during it."""

from __future__ import annotations

import time

from bench.cpu import CpuMeter, cpu_figure
from bench.database import (
    copy_end_state,
    fresh_database,
    last_commit,
    row_counts,
    wait_consumed,
    write_profile,
)
from bench.pipeline import WARM_UP_DIRECTORY, cpu_readers, pipeline
from bench.report import Figure
from bench.services import Context, Load, PeakRss, loadgen
from bench.streams import body_lines, initial_sync_stream

DRAIN_TIMEOUT = 600.0
TARGET_SECONDS = 60.0


async def initial_sync_figures(
    ctx: Context, users: int, groups: int, memberships: int, connections: int
) -> list[Figure]:
    events = initial_sync_stream(users, groups, memberships)
    bodies = ctx.workdir / "b4-bodies.jsonl"
    bodies.write_bytes(body_lines(events))
    copy_db = await fresh_database(ctx.admin_url, "bench_b4_copy")
    async with pipeline(ctx, "b4") as running:
        rss = PeakRss(running.worker_pid)
        meter = CpuMeter(cpu_readers(ctx, running))
        started = time.perf_counter()
        summary, _ = await loadgen(running.ingress.url, bodies, Load(connections), ctx.workdir)
        if summary["ok"] != len(events):
            raise RuntimeError(f"the ingress refused some webhooks: {summary['errors']}")
        await wait_consumed(running.database, running.records_before + len(events), DRAIN_TIMEOUT)
        usage = meter.stop(
            time.perf_counter() - started, len(events), **{"load generator": summary["cpu_s"]}
        )
        peak = await rss.stop()
    seconds = (await last_commit(running.database)).timestamp() - summary["first_send_epoch"]
    sending = summary["last_done_epoch"] - summary["first_send_epoch"]
    expected = {"users": users, "groups": groups, "memberships": memberships}
    counts = await row_counts(running.database, WARM_UP_DIRECTORY)
    if counts != expected:
        raise RuntimeError(f"B4 ended with {counts}, expected {expected}")
    await write_profile(running.database, "B4")
    copy_seconds, copied_rows = await copy_end_state(running.database, copy_db)
    return [
        Figure(
            "B4",
            f"initial sync: {users:,} users, {groups:,} groups, {memberships:,} memberships "
            f"sent as signed webhooks ({connections} connections), to the last commit",
            round(seconds, 2),
            "s",
            f"COPY of the {copied_rows:,} resulting rows",
            round(copy_seconds, 3),
            round(copy_seconds / seconds, 4),
            f"finished within {TARGET_SECONDS:g} s",
            met=seconds <= TARGET_SECONDS,
            detail=(
                f"{len(events) / seconds:,.0f} events/s; the ingress accepted the last one after"
                f" {sending:.1f} s, {summary['rate']:,.0f}/s, answer p99"
                f" {summary['latency_ms']['p99']} ms; generator CPU {summary['cpu_share']:.0%}"
            ),
            baseline_unit="s",
            numbers={
                "seconds": round(seconds, 3),
                "accepting_seconds": round(sending, 3),
                "ingress_rate": summary["rate"],
                "ingress_answer_p99_ms": summary["latency_ms"]["p99"],
                "generator_cpu_share": summary["cpu_share"],
            },
        ),
        cpu_figure("B4 CPU", "CPU per event during B4, by process", usage),
        Figure(
            "B7",
            "worker peak RSS during B4",
            round(peak / 2**20, 1),
            "MiB",
            "none",
            None,
            None,
            "<= 200 MB",
            met=peak <= 200e6,
        ),
    ]
