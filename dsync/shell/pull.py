"""`dsync pull workos`: the WorkOS Events API as a source of the events topic (pull/)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from dsync.settings import Settings
from dsync.shell.command import BROKER, DATABASE, Commands, add_command
from schemas.providers import PULLED_SOURCES

# WorkOS keeps events 90 days but serves at most 30 per request (the docs conflict on
# which is the age limit): a puller without a cursor starts 30 days back by default.
DEFAULT_RANGE_DAYS = 30


def register(commands: Commands) -> None:
    pull = add_command(
        commands,
        "pull",
        "read a provider's Events API into the events topic (instead of or beside webhooks)",
        _pull,
        detail=(
            "One puller per account is active (a PostgreSQL advisory lock); more replicas "
            "wait and take over when it dies. The cursor is stored after the broker "
            "acknowledged."
        ),
        needs=(DATABASE, BROKER, "DSYNC_WORKOS_API_KEY"),
        reads=(
            "DSYNC_WORKOS_API_BASE_URL (default https://api.workos.com)",
            "DSYNC_EVENTS_TOPIC, DSYNC_BROKER_ACK_TIMEOUT_SECONDS",
        ),
    )
    pull.add_argument("provider", choices=PULLED_SOURCES, help="the provider to pull from")
    pull.add_argument("--once", action="store_true", help="drain what is visible now, then exit")
    pull.add_argument(
        "--account",
        default="default",
        help="names the API key's environment: each account has its own cursor and lock "
        "(default: %(default)s)",
    )
    pull.add_argument(
        "--range-start",
        type=_aware_time,
        metavar="ISO-8601",
        help=f"where to start without a stored cursor (default: {DEFAULT_RANGE_DAYS} days ago)",
    )
    pull.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="between polls once drained, and after a failure (default: %(default)s)",
    )
    pull.add_argument("--metrics-host", default="127.0.0.1", help="default: %(default)s")
    pull.add_argument(
        "--metrics-port", type=int, default=9102, help="0: none (default: %(default)s)"
    )


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _pull(args: argparse.Namespace, settings: Settings) -> None:
    from pull.loop import PullOptions
    from pull.main import main

    start = args.range_start or datetime.now(UTC) - timedelta(days=DEFAULT_RANGE_DAYS)
    options = PullOptions(
        account=args.account,
        range_start=start,
        topic=settings.events_topic,
        interval=args.interval,
        once=args.once,
    )
    main(settings, options, args.metrics_host, args.metrics_port)
