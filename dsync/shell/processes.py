"""`dsync ingress|worker|migrate|topics|dev`: the processes of a deployment, and `dev`,
which runs them all locally."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from dsync.settings import Settings
from dsync.shell.command import BROKER, DATABASE, SECRETS, Commands, add_command


def register(commands: Commands) -> None:
    add_command(
        commands,
        "ingress",
        "run the webhook ingress (uvicorn): verify, then produce to the events topic",
        _ingress,
        needs=(BROKER, f"at least one of {SECRETS} (a provider without one answers 404)"),
        reads=(
            "DSYNC_INGRESS_HOST, DSYNC_INGRESS_PORT, DSYNC_EVENTS_TOPIC",
            "DSYNC_MAX_BODY_BYTES, DSYNC_SIGNATURE_TOLERANCE_SECONDS",
            "DSYNC_BROKER_ACK_TIMEOUT_SECONDS, DSYNC_SHUTDOWN_GRACE_SECONDS",
        ),
    )
    add_command(
        commands,
        "worker",
        "run a worker of the consumer group: apply events to PostgreSQL",
        _worker,
        needs=(DATABASE, BROKER),
        reads=(
            "DSYNC_EVENTS_TOPIC, DSYNC_DEAD_LETTER_TOPIC, DSYNC_CHANGES_TOPIC",
            "DSYNC_WORKER_GROUP_ID, DSYNC_WORKER_MAX_BATCH, DSYNC_DATABASE_POOL_SIZE",
            "DSYNC_WORKER_ADMIN_HOST, DSYNC_WORKER_ADMIN_PORT (metrics, default 9100)",
            "DSYNC_SYNC_LATENCY_BUDGET_SECONDS, DSYNC_DIAGNOSTICS_TOKEN",
        ),
    )
    add_command(
        commands,
        "migrate",
        "apply database migrations (idempotent; safe from several processes at once)",
        _migrate,
        needs=(DATABASE,),
    )
    add_command(
        commands,
        "topics",
        "create the events, dead-letter and changes topics (idempotent)",
        _topics,
        needs=(BROKER,),
        reads=(
            "DSYNC_EVENTS_TOPIC, DSYNC_EVENTS_TOPIC_PARTITIONS, DSYNC_DEAD_LETTER_TOPIC",
            "DSYNC_CHANGES_TOPIC, DSYNC_CHANGES_TOPIC_PARTITIONS",
        ),
    )
    dev = add_command(
        commands,
        "dev",
        "run everything locally (what `make run` does)",
        _dev,
        reads=(
            f"{DATABASE}, {BROKER} (embedded servers when unset)",
            f"{SECRETS} (generated when unset)",
            "DSYNC_INGRESS_HOST, DSYNC_INGRESS_PORT, DSYNC_WORKER_ADMIN_PORT",
        ),
    )
    dev.add_argument(
        "--workdir",
        type=Path,
        default=Path(".dsync/dev"),
        help="where the embedded servers keep their data and logs (default: %(default)s)",
    )


# Each handler imports its process only when run, so `dsync --help` and the small
# commands do not load the worker's and the ingress's dependencies.


def _ingress(_: argparse.Namespace, settings: Settings) -> None:
    from webhook_ingress.main import main as ingress

    ingress(settings)


def _worker(_: argparse.Namespace, settings: Settings) -> None:
    from worker.main import main as worker

    worker(settings)


def _migrate(_: argparse.Namespace, settings: Settings) -> None:
    from dsync.migrate import migrate

    asyncio.run(migrate(settings.require_database_url()))


def _topics(_: argparse.Namespace, settings: Settings) -> None:
    from dsync.topics import ensure_topics

    asyncio.run(ensure_topics(settings.require_bootstrap_servers(), settings.topic_partitions()))


def _dev(args: argparse.Namespace, settings: Settings) -> None:
    from dsync.shell.dev import run

    run(settings, args.workdir)
