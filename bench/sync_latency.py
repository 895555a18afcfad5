"""B3: end-to-end latency at a steady rate, from the moment a webhook was due to be sent
(open loop) to the commit of the transaction that applied it, through the real ingress,
broker and worker."""

from __future__ import annotations

from datetime import datetime

from bench.cpu import sampled
from bench.database import commit_times, received_times, wait_consumed
from bench.loadgen import percentile
from bench.pipeline import cpu_readers, pipeline
from bench.report import Figure
from bench.services import Context, Load, loadgen
from bench.streams import body_lines, steady_stream

DRAIN_TIMEOUT = 120.0


async def latency_figures(ctx: Context, rate: float, seconds: float) -> list[Figure]:
    events = steady_stream(int(rate * seconds))
    bodies = ctx.workdir / "b3-bodies.jsonl"
    bodies.write_bytes(body_lines(events))
    window = max(0.25, min(5.0, seconds / 6))
    async with pipeline(ctx, "b3") as running:
        load = Load(duration=seconds, rate=rate, record=True)
        async with sampled(cpu_readers(ctx, running), window) as timeline:
            summary, rows = await loadgen(running.ingress.url, bodies, load, ctx.workdir)
        accepted = [row for row in rows if str(row[3]).startswith("2")]
        await wait_consumed(running.database, running.records_before + len(accepted), DRAIN_TIMEOUT)
        committed = await commit_times(running.database)
        received = await received_times(running.database)
    ids = [events[row[0]]["id"] for row in accepted]
    sent = [row[1] for row in accepted]
    end_to_end = _latencies(ids, sent, committed)
    p50, p99 = percentile(end_to_end, 50), percentile(end_to_end, 99)
    detail = (
        f"p50 {p50:.1f} ms, max {end_to_end[-1] if end_to_end else 0:.1f} ms; "
        f"{len(accepted):,} of {summary['count']:,} accepted at {summary['rate']:,.0f}/s; "
        f"ingress answer p99 {summary['latency_ms']['p99']} ms"
    )
    numbers = {
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "accepted": len(accepted),
        "offered_rate": rate,
        "ingress_answer_p99_ms": summary["latency_ms"]["p99"],
        "generator_cpu_share": summary["cpu_share"],
    }
    if received is not None:
        inside = _latencies(ids, [received[i].timestamp() for i in ids], committed)
        numbers["received_p50_ms"] = round(percentile(inside, 50), 1)
        numbers["received_p99_ms"] = round(percentile(inside, 99), 1)
        detail += (
            f"; from the ingress's received_at: p50 {numbers['received_p50_ms']} ms,"
            f" p99 {numbers['received_p99_ms']} ms"
        )
    cpu = timeline.shares()
    if cpu and all(cpu.values()):
        # The embedded broker's cost of serving a consumer grows with the topic (see
        # docs/PERFORMANCE.md), so its first and last windows are shown, not an average.
        detail += f"; CPU in the first and last {window:g} s (share of a core): " + ", ".join(
            f"{name} {values[0]:.2f} -> {values[-1]:.2f}" for name, values in cpu.items()
        )
        for name, values in cpu.items():
            numbers[f"{name.lower()}_cpu_share_first"] = round(values[0], 3)
            numbers[f"{name.lower()}_cpu_share_last"] = round(values[-1], 3)
    return [
        Figure(
            "B3",
            f"end to end, webhook sent to committed in PostgreSQL, {rate:,.0f} events/s for "
            f"{seconds:g} s (users created/updated, memberships; 20 directories)",
            round(p99, 1),
            "ms p99",
            "none (absolute)",
            None,
            None,
            "p99 <= 250 ms",
            met=bool(end_to_end) and p99 <= 250,
            detail=detail,
            numbers=numbers,
        )
    ]


def _latencies(ids: list[str], started: list[float], committed: dict[str, datetime]) -> list[float]:
    """Sorted milliseconds from each event's start to its commit; every id must be there."""
    missing = [event_id for event_id in ids if event_id not in committed]
    if missing:
        raise RuntimeError(f"{len(missing)} accepted events were never applied")
    return sorted(
        (committed[event_id].timestamp() - start) * 1000
        for event_id, start in zip(ids, started, strict=True)
    )
