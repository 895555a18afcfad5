"""`dsync replay|rebuild`: read the events topic again (worker/replay.py does it)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from dsync.settings import ConfigError, Settings
from dsync.shell.command import BROKER, DATABASE, Commands, add_command


def register(commands: Commands) -> None:
    replay = add_command(
        commands,
        "replay",
        "re-apply a range of the events topic (harmless to the tables)",
        _replay,
        needs=(DATABASE, BROKER),
        reads=("DSYNC_EVENTS_TOPIC",),
    )
    start = replay.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--from-beginning", action="store_true", help="from the oldest record the topic holds"
    )
    start.add_argument(
        "--from-time",
        type=_aware_time,
        metavar="ISO-8601",
        help="from the first record at or after this time (UTC unless it names a zone)",
    )
    replay.add_argument(
        "--directory", metavar="DIRECTORY_ID", help="re-apply only this directory's events"
    )
    rebuild = add_command(
        commands,
        "rebuild",
        "empty the dsync tables and rebuild them from the whole topic",
        _rebuild,
        needs=(DATABASE, BROKER),
        reads=("DSYNC_EVENTS_TOPIC, DSYNC_REBUILD_BATCH",),
    )
    rebuild.add_argument("--yes", action="store_true", help="confirm (stop the workers first)")


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _replay(args: argparse.Namespace, settings: Settings) -> None:
    from dsync import eventloop
    from worker.replay import Range, replay

    totals = eventloop.run(replay(settings, Range(args.from_time, args.directory)))
    print(json.dumps(dict(totals)))


def _rebuild(args: argparse.Namespace, settings: Settings) -> None:
    from dsync import eventloop
    from worker.replay import rebuild

    if not args.yes:
        raise ConfigError("rebuild rewrites every dsync table: stop the workers, add --yes")
    print(json.dumps(dict(eventloop.run(rebuild(settings)))))
