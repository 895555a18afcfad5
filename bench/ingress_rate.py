"""B1: signed WorkOS webhooks the real `dsync ingress` accepts per second (each answered
only after the broker's ack), against a bare Starlette endpoint that only verifies the
HMAC and parses the JSON under the same uvicorn settings; then p50/p99 of both at half the
ingress's maximum rate, open loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.cpu import process_seconds
from bench.report import Figure
from bench.services import Context, Load, Server, bare, ingress, loadgen
from bench.streams import body_lines, steady_stream
from dsync.topics import ensure_topics

TOPIC = "bench.b1"
DISTINCT_BODIES = 5_000  # cycled: no worker runs, so repeated event ids do not matter
WARM_UP = 500
ROUNDS = 3


def _median(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median rate (its latency and CPU figures with it)."""
    return sorted(summaries, key=lambda summary: float(summary["rate"]))[len(summaries) // 2]


async def ingress_figures(ctx: Context, seconds: float, connections: int) -> list[Figure]:
    await ensure_topics(ctx.bootstrap, {TOPIC: 6})
    bodies = ctx.workdir / "b1-bodies.jsonl"
    bodies.write_bytes(body_lines(steady_stream(DISTINCT_BODIES)))
    closed = Load(connections, duration=seconds / 2, cycle=True)
    async with (
        ingress(ctx.bootstrap, TOPIC, ctx.workdir) as our_server,
        bare(ctx.workdir) as bare_server,
    ):
        # Interleaved rounds, the median of each side: a neighbour's burst on a shared
        # machine then lowers one round, not one side.
        rounds: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for _ in range(ROUNDS):
            rounds.append(
                (
                    await _measure(our_server, bodies, closed, ctx.workdir),
                    await _measure(bare_server, bodies, closed, ctx.workdir),
                )
            )
        ours = _median([r[0] for r in rounds])
        theirs = _median([r[1] for r in rounds])
        half = Load(connections, duration=seconds, rate=max(1.0, ours["rate"] / 2), cycle=True)
        ours_half = await _measure(our_server, bodies, half, ctx.workdir)
        theirs_half = await _measure(bare_server, bodies, half, ctx.workdir)
    ratio = ours["rate"] / theirs["rate"] if theirs["rate"] else 0.0
    p99 = ours_half["latency_ms"]["p99"]
    return [
        Figure(
            "B1",
            f"ingress: signed WorkOS webhooks accepted/s, answered after the broker's ack "
            f"(closed loop, {connections} keep-alive connections, median of {ROUNDS} interleaved "
            f"{seconds / 2:g} s rounds)",
            round(ours["rate"]),
            "requests/s",
            "bare Starlette endpoint (HMAC + JSON only), same uvicorn settings",
            round(theirs["rate"]),
            round(ratio, 3),
            ">= 0.6x baseline",
            met=ratio >= 0.6,
            detail=f"{_load(ours)}; bare: {_load(theirs)}; rounds (ingress/bare): "
            + ", ".join(f"{a['rate']:,.0f}/{b['rate']:,.0f}" for a, b in rounds),
            baseline_unit="requests/s",
            numbers={
                **_numbers(ours, theirs),
                **{f"round_{n}_ingress_rate": a["rate"] for n, (a, _) in enumerate(rounds)},
                **{f"round_{n}_bare_rate": b["rate"] for n, (_, b) in enumerate(rounds)},
            },
        ),
        Figure(
            "B1",
            f"ingress latency at half that rate ({half.rate:,.0f}/s open loop, {seconds:g} s)",
            p99,
            "ms p99",
            "bare endpoint at the same rate, p99",
            theirs_half["latency_ms"]["p99"],
            None,
            "p99 <= 25 ms at half load",
            met=p99 <= 25,
            detail=f"p50 {ours_half['latency_ms']['p50']} ms; {_load(ours_half)}",
            baseline_unit="ms",
            numbers=_numbers(ours_half, theirs_half),
        ),
    ]


async def _measure(server: Server, bodies: Path, load: Load, workdir: Path) -> dict[str, Any]:
    """One load generator run after a short warm-up; adds the server's CPU share."""
    await loadgen(server.url, bodies, Load(load.connections, count=WARM_UP, cycle=True), workdir)
    server_seconds = process_seconds(server.pid)
    before = server_seconds()
    summary, _ = await loadgen(server.url, bodies, load, workdir)
    summary["server_cpu_share"] = (server_seconds() - before) / summary["elapsed_s"]
    return summary


def _load(summary: dict[str, Any]) -> str:
    """Errors and who used the CPU: a server near 100% of a core is the bottleneck; a
    generator far below it is not."""
    errors = sum(summary["errors"].values())
    return (
        f"{summary['ok']:,} ok, {errors:,} errors, server CPU {summary['server_cpu_share']:.0%}"
        f" of a core, generator CPU {summary['cpu_share']:.0%}"
    )


def _numbers(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float]:
    numbers: dict[str, float] = {}
    for prefix, summary in (("ingress", ours), ("bare", theirs)):
        numbers[f"{prefix}_rate"] = summary["rate"]
        numbers[f"{prefix}_errors"] = sum(summary["errors"].values())
        numbers[f"{prefix}_server_cpu_share"] = round(summary["server_cpu_share"], 3)
        numbers[f"{prefix}_generator_cpu_share"] = summary["cpu_share"]
        for name, value in summary["latency_ms"].items():
            numbers[f"{prefix}_{name}_ms"] = value
    return numbers
