"""`make bench`: the benchmark set on embedded PostgreSQL and the embedded broker, each
figure with its baseline measured in the same run. Writes bench/results/latest.{md,json}.

  B1  ingress: webhooks accepted/s; p50/p99 at half   baseline: bare HMAC + JSON endpoint
  B2  worker: events applied/s on a mixed stream      baseline: COPY of the end state
  B3  end to end p50/p99 at a steady rate             (absolute)
  B4  initial sync as webhooks, to the last commit    baseline: COPY of the end state
  B5  rebuild from the topic                          baseline: B2's rate
  B6  deprovision: webhook -> every credential revoked (absolute)
  B7  worker peak RSS during B4 (and during B2)       (absolute)
  B8  reconcile B4's directory with 1% drift          baseline: B4, target <= 0.5x
  B9  puller: Events API (stand-in) -> topic events/s baseline: B2's rate (B2 runs too)
  B10 SCIM POST /Users p99 (committed answer) at 50/s baseline: B3's end to end p99
      and GET filter=userName eq p99, 100,000 users    (absolute)

Load generators are separate processes (bench/loadgen.py) on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench import report
from bench.database import start_postgres
from bench.deprovision import deprovision_figures
from bench.ingress_rate import ingress_figures
from bench.initial_sync import initial_sync_figures
from bench.pull_rate import puller_figures, with_b2_baseline
from bench.reconcile_rate import reconcile_figures
from bench.report import Figure
from bench.scim_latency import scim_figures
from bench.services import Context
from bench.sync_latency import latency_figures
from bench.worker_rate import worker_figures
from dsync.embedded import EmbeddedBroker
from dsync.logs import configure_logging


@dataclass(frozen=True, slots=True)
class Sizes:
    events: int = 100_000  # B2, B5
    seconds: float = 10.0  # B1: each half-load run; closed-loop rounds are half as long
    connections: int = 64  # B1, B4: enough in flight to keep a core busy while acks are awaited
    rate: float = 500.0  # B3
    rate_seconds: float = 60.0  # B3
    users: int = 100_000  # B4
    groups: int = 1_000
    memberships: int = 200_000
    people: int = 1_000  # B6
    people_rate: float = 50.0  # B6
    workers: int = 2  # B2: worker processes, as deploy/k8s/base runs them
    scim_rate: float = 50.0  # B10
    scim_seconds: float = 30.0
    scim_users: int = 100_000


# Numbers that mean nothing, for CI: every figure runs, in well under a minute.
SMOKE = Sizes(
    events=2_000,
    seconds=2.0,
    connections=8,
    rate=50.0,
    rate_seconds=3.0,
    users=300,
    groups=30,
    memberships=600,
    people=20,
    people_rate=20.0,
    scim_rate=10.0,
    scim_seconds=2.0,
    scim_users=300,
)

FAILED_LOGS = Path("build/bench-failed-logs")  # ignored by git

Runner = Callable[[Context, Sizes], Awaitable[list[Figure]]]
# Which runner produces which figures: B5 and B7 (B2) come with B2, B7 with B4.
RUNNERS: dict[str, Runner] = {
    "B1": lambda ctx, s: ingress_figures(ctx, s.seconds, s.connections),
    "B2": lambda ctx, s: worker_figures(ctx, s.events, s.workers),
    "B3": lambda ctx, s: latency_figures(ctx, s.rate, s.rate_seconds),
    "B4": lambda ctx, s: initial_sync_figures(ctx, s.users, s.groups, s.memberships, s.connections),
    "B6": lambda ctx, s: deprovision_figures(ctx, s.people, s.people_rate),
    "B8": lambda ctx, s: reconcile_figures(ctx, s.users, s.groups, s.memberships),
    "B9": lambda ctx, s: puller_figures(ctx, s.events),
    "B10": lambda ctx, s: scim_figures(ctx, s.scim_rate, s.scim_seconds, s.scim_users),
}
ALIASES = {"B5": "B2", "B7": "B4"}


async def bench(sizes: Sizes, only: list[str], workdir: Path) -> list[Figure]:
    postgres, admin = await start_postgres(workdir / "postgres")
    broker = EmbeddedBroker(workdir / "broker.log")
    try:
        ctx = Context(admin, broker.start(), workdir, postgres.pid, broker.pid)
        figures: list[Figure] = []
        for name in only:
            figures += await RUNNERS[name](ctx, sizes)
        return with_b3_baseline(against_b4(with_b2_baseline(figures)))
    finally:
        broker.stop()
        postgres.stop()


def against_b4(figures: list[Figure]) -> list[Figure]:
    """B8's baseline is B4 of the same run, when both ran."""
    b4 = next((f for f in figures if f.id == "B4"), None)
    if b4 is None:
        return figures
    return [
        replace(
            f,
            baseline_value=b4.value,
            baseline_unit="s",
            ratio=round(f.value / b4.value, 3),
            met=bool(f.met) and f.value <= 0.5 * b4.value,
        )
        if f.id == "B8"
        else f
        for f in figures
    ]


def with_b3_baseline(figures: list[Figure]) -> list[Figure]:
    """B10's SCIM create p99 beside B3's end-to-end p99 of the same run (when B3 ran)."""
    b3 = next((f for f in figures if f.id == "B3"), None)
    if b3 is None:
        return figures
    return [
        replace(
            f, baseline_value=b3.value, baseline_unit=b3.unit, ratio=round(f.value / b3.value, 3)
        )
        if f.id == "B10" and f.baseline.startswith("B3") and b3.value
        else f
        for f in figures
    ]


def _selection(text: str) -> list[str]:
    wanted = {ALIASES.get(part.strip().upper(), part.strip().upper()) for part in text.split(",")}
    if "B9" in wanted:
        wanted.add("B2")  # B9's baseline
    unknown = wanted - RUNNERS.keys()
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown figures: {', '.join(sorted(unknown))}")
    return [name for name in RUNNERS if name in wanted]


def _keep_logs(workdir: Path, target: Path) -> None:
    """The processes' logs outlive a failed run (the work directory does not)."""
    target.mkdir(parents=True, exist_ok=True)
    for log in workdir.glob("*.log"):
        shutil.copy(log, target / log.name)
    print(f"bench failed; the processes' logs are in {target}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes (CI): numbers mean nothing"
    )
    parser.add_argument("--events", type=int, help="B2's stream length (default 100,000)")
    parser.add_argument("--workers", type=int, help="B2's worker processes (default 2)")
    parser.add_argument("--only", type=_selection, default=list(RUNNERS), help="e.g. B1,B3")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    sizes = SMOKE if args.smoke else Sizes()
    if args.events is not None:
        sizes = replace(sizes, events=args.events)
    if args.workers is not None:
        sizes = replace(sizes, workers=args.workers)
    configure_logging("warning", "console")  # the bench's own migrations and topics
    info = report.machine()  # before the run: its load average is the machine's, not ours
    with tempfile.TemporaryDirectory(prefix="dsync-bench-") as workdir:
        try:
            figures = asyncio.run(bench(sizes, args.only, Path(workdir)))
        except BaseException:
            _keep_logs(Path(workdir), FAILED_LOGS)
            raise
    described: dict[str, object] = {"figures": ",".join(args.only), **asdict(sizes)}
    print(report.write(args.out, figures, described, info))


if __name__ == "__main__":
    main()
