"""`dsync status`: per directory, the last events, latency, dead letters and health, and
the consumer group's lag (worker/diagnostics.py reads them), as a table or as the JSON
that `GET /diagnostics` serves."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dsync.settings import Settings
from dsync.shell.command import BROKER, DATABASE, Commands, add_command
from schemas.base import utc_text

if TYPE_CHECKING:  # imported when run, so the other commands do not load the worker
    from pull.cursor_store import PullerPosition
    from worker.diagnostics import Status


def register(commands: Commands) -> None:
    status = add_command(
        commands,
        "status",
        "per directory: last events, latency, dead letters, health; consumer lag",
        _status,
        needs=(DATABASE, BROKER),
        reads=("DSYNC_EVENTS_TOPIC, DSYNC_WORKER_GROUP_ID",),
    )
    status.add_argument("--json", action="store_true", help="as GET /diagnostics serves it")


def _status(args: argparse.Namespace, settings: Settings) -> None:
    from worker.diagnostics import read_status

    found = asyncio.run(read_status(settings))
    if args.json:
        print(json.dumps(found.to_json(), indent=2))
        return
    from pull.cursor_store import read_positions

    positions = asyncio.run(read_positions(settings.require_database_url()))
    print(render(found) + "\n" + render_pullers(positions, datetime.now(UTC)))


def render(status: Status) -> str:
    """The human table of `dsync status`."""
    header = (
        "DIRECTORY",
        "PROVIDER",
        "STATE",
        "LAST RECEIVED",
        "LAST APPLIED",
        "APPLIED/5M",
        "TOTAL",
        "P50 (S)",
        "P99 (S)",
        "DEAD LETTERS",
        "NOT REDRIVEN",
    )
    rows = [header] + [
        (
            d.directory_id or "-",
            d.provider or "-",
            d.state if d.degraded_since is None else f"degraded since {_short(d.degraded_since)}",
            _short(d.last_received_at),
            _short(d.last_applied_at),
            str(d.applied),
            str(d.events_total),
            _seconds(d.p50_seconds),
            _seconds(d.p99_seconds),
            str(d.dead_letters),
            str(d.dead_letters_not_redriven),
        )
        for d in status.directories
    ]
    lines = [_line(row, rows) for row in rows]
    if not status.directories:
        lines.append("(no events applied yet)")
    lines += ["", f"consumer lag (group {status.group}, topic {status.topic}):"]
    if status.lag is None:
        lines.append(f"  unknown: {status.lag_error}")
    else:
        for p in status.lag:
            stored = "-" if p.next_offset is None else str(p.next_offset)
            lines.append(f"  partition {p.partition}: {p.lag} (end {p.end_offset}, next {stored})")
        lines.append(f"  total: {sum(p.lag for p in status.lag)}")
    return "\n".join(lines + _held(status) + _reconciled(status))


def render_pullers(positions: Sequence[PullerPosition], now: datetime) -> str:
    """One line per Events API cursor (`dsync pull`): how far behind, when it last moved."""
    if not positions:
        return "\npullers: none"
    lines = ["", "pullers (Events API cursors):"]
    for p in positions:
        behind = (
            "-" if p.last_event_at is None else f"{(now - p.last_event_at).total_seconds():.0f} s"
        )
        moved = f"{(now - p.updated_at).total_seconds():.0f} s ago"
        lines.append(
            f"  {p.provider}/{p.account}: last event {_short(p.last_event_at)} ({behind} behind),"
            f" cursor moved {moved}"
        )
    return "\n".join(lines)


def _held(status: Status) -> list[str]:
    """Held partitions apply nothing until an operator decides (docs/operations.md,
    "When something goes wrong")."""
    if not status.held:
        return ["", "held partitions: none"]
    lines = ["", "held partitions (nothing is applied from them until you decide):"]
    for hold in status.held:
        log = "-" if hold.log_start is None else f"{hold.log_start}..{hold.log_end}"
        lines.append(
            f"  partition {hold.partition}: {hold.reason} (stored {hold.stored_offset}, log {log})"
        )
    lines.append(
        "  decide with: dsync offsets show; dsync offsets reset --partition P --to ... --yes"
        " (or, for dead_letter_cap, dsync offsets resume --partition P --yes)"
    )
    return lines


def _reconciled(status: Status) -> list[str]:
    """The last `dsync reconcile` of each directory (docs/operations.md, "Reconciliation")."""
    if not status.reconciliations:
        return ["", "reconciliations: none yet", *_unfinished(status)]
    lines = ["", "last reconciliation per directory:"]
    for run in status.reconciliations:
        drift = ", ".join(f"{k} {v}" for k, v in sorted(run.drift.items()) if v) or "no drift"
        again = " (drift on two runs in a row)" if run.drifted_twice else ""
        lines.append(
            f"  {run.provider} {run.directory_id}: {_short(run.finished_at)}: {drift}{again}"
        )
    return lines + _unfinished(status)


def _unfinished(status: Status) -> list[str]:
    """A running reconciliation is why another `dsync reconcile` of its directory is
    skipped (exit status 75); a stopped one is resumed by the next run."""
    if not status.unfinished:
        return []
    lines = ["", "unfinished reconciliations:"]
    for run in status.unfinished:
        how = (
            "running (another dsync reconcile of it is skipped)"
            if run.running
            else "stopped (the next run resumes it)"
        )
        lines.append(
            f"  {run.provider} {run.directory_id}: started {_short(run.started_at)},"
            f" phase {run.phase}: {how}"
        )
    return lines


def _line(row: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(row))]
    return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _short(moment: datetime | None) -> str:
    """Seconds are enough for a table."""
    return utc_text(moment.replace(microsecond=0)) if moment else "-"
