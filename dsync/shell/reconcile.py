"""`dsync reconcile`: compare each directory with its provider's list APIs and repair the
drift through the events topic (reconcile/ does it; docs/operations.md "Reconciliation")."""

from __future__ import annotations

import argparse
import json
import re
import sys

from dsync.settings import Settings
from dsync.shell.command import BROKER, DATABASE, Commands, add_command
from reconcile.exclusive import SKIPPED_EXIT
from schemas.providers import LISTED_SOURCES

_DURATION = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(commands: Commands) -> None:
    parser = add_command(
        commands,
        "reconcile",
        "compare directories with the provider's list APIs and repair the drift",
        _reconcile,
        detail=(
            "Repairs travel as corrective events through the events topic (never written"
            " to the tables directly). A run stopped anywhere resumes at its last page."
            f" A directory another reconciliation is running is skipped, and the exit"
            f" status is then {SKIPPED_EXIT}."
        ),
        needs=(DATABASE, BROKER),
        reads=(
            "DSYNC_WORKOS_API_KEY, DSYNC_WORKOS_API_BASE_URL (--provider workos)",
            "DSYNC_STYTCH_PROJECT_ID, DSYNC_STYTCH_SECRET, DSYNC_STYTCH_API_BASE_URL"
            " (--provider stytch)",
            "DSYNC_POLIS_API_KEY, DSYNC_POLIS_API_BASE_URL (--provider polis)",
            "DSYNC_EVENTS_TOPIC",
        ),
    )
    parser.add_argument(
        "--provider",
        required=True,
        choices=LISTED_SOURCES,
        help="whose list APIs to read",
    )
    parser.add_argument(
        "--directory",
        action="append",
        default=[],
        metavar="ID",
        help="this directory only (repeatable); default: every live directory dsync knows",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the drift (counts and ids), repair nothing"
    )
    parser.add_argument(
        "--show-personal-data", action="store_true", help="print e-mails with the user ids"
    )
    parser.add_argument(
        "--every", type=duration, metavar="DURATION", help="repeat on a schedule, e.g. 6h, 30m"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="with --every: serve Prometheus metrics on DSYNC_WORKER_ADMIN_HOST:PORT",
    )


def duration(text: str) -> float:
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError("a duration such as 90s, 30m, 6h or 1d")
    return float(int(match[1]) * _SECONDS[match[2]])


def _reconcile(args: argparse.Namespace, settings: Settings) -> None:
    from prometheus_client import start_http_server

    from dsync import eventloop
    from dsync.source_metrics import ReconcileMetrics
    from reconcile.corrections import Correction
    from reconcile.exclusive import SKIPPED
    from reconcile.main import every, reconcile

    if args.every is not None:
        if args.dry_run:
            sys.exit("dsync reconcile: --every repairs; it cannot be a dry run")
        metrics = ReconcileMetrics()
        if args.metrics_port is not None:
            start_http_server(
                args.metrics_port, settings.worker_admin_host, registry=metrics.registry
            )
        eventloop.run(every(args.every, settings, args.provider, args.directory, metrics))
        return

    def report(correction: Correction) -> None:
        if not args.dry_run:
            return
        shown = [correction.kind, correction.object_id]
        if args.show_personal_data and correction.personal:
            shown.append(correction.personal)
        print("\t".join(shown))

    done = eventloop.run(
        reconcile(settings, args.provider, args.directory, dry_run=args.dry_run, report=report)
    )
    for outcome in done.outcomes:
        summary = {
            "run_id": outcome.run_id,
            "directory_id": outcome.directory_id,
            "dry_run": args.dry_run,
            "drift": dict(outcome.tally.found),
            "repaired": dict(outcome.tally.repaired),
        }
        print(json.dumps(summary, sort_keys=True))
    for directory in done.skipped:
        print(json.dumps({"directory_id": directory, "dry_run": args.dry_run, "skipped": SKIPPED}))
    if done.skipped:
        sys.exit(SKIPPED_EXIT)
