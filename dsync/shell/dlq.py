"""`dsync dlq list|show|redrive`: look at dead letters and send them back
(worker/dlq.py does it)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING

from dsync.settings import Settings
from dsync.shell.command import BROKER, DATABASE, Commands, add_command

if TYPE_CHECKING:
    from worker.store import Store


def register(commands: Commands) -> None:
    dlq = add_command(
        commands,
        "dlq",
        "list, show or redrive dead letters",
        _dlq,
        needs=(DATABASE, f"{BROKER} (redrive only)"),
    )
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="the newest dead letters first", description="The newest dead letters first."
    )
    listing.add_argument(
        "--directory", metavar="DIRECTORY_ID", help="only this directory's letters"
    )
    listing.add_argument(
        "--limit", type=int, default=50, help="at most this many letters (default: %(default)s)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    shown = actions.add_parser(
        "show",
        help="one dead letter: reason, ids, headers",
        description="One dead letter: reason, ids, headers; the body only with --body.",
    )
    shown.add_argument("--id", type=int, required=True, help="the letter's id (from dlq list)")
    shown.add_argument("--body", action="store_true", help="print the body (personal data)")
    redriven = actions.add_parser(
        "redrive",
        help="produce dead letters to the events topic again",
        description="Produce dead letters to the events topic again, after fixing the cause.",
    )
    which = redriven.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="this letter (from dlq list)")
    which.add_argument("--all", action="store_true", help="every letter never redriven")
    redriven.add_argument(
        "--directory", metavar="DIRECTORY_ID", help="with --all: only this directory's letters"
    )


def _dlq(args: argparse.Namespace, settings: Settings) -> None:
    print(asyncio.run(_command(settings, args)))


async def _command(settings: Settings, args: argparse.Namespace) -> str:
    from worker.dlq import list_letters, show, table
    from worker.store import Store

    store = await Store.open(settings.require_database_url(), size=1)
    try:
        if args.action == "list":
            rows = await list_letters(store, args.directory, args.limit)
            return json.dumps(rows, indent=2) if args.json else table(rows)
        if args.action == "show":
            letter = await show(store, args.id, body=args.body)
            if letter is None:
                sys.exit(f"dsync dlq show: no dead letter with id {args.id}")
            return json.dumps(letter, indent=2)
        return json.dumps({"redriven": await _redrive(settings, store, args)})
    finally:
        await store.close()


async def _redrive(settings: Settings, store: Store, args: argparse.Namespace) -> list[int]:
    from dsync.producer import KafkaProducer, ProduceError
    from worker.dlq import redrive

    producer = KafkaProducer(
        settings.require_bootstrap_servers(),
        ack_timeout=settings.broker_ack_timeout_seconds,
        idempotent=settings.kafka_idempotent_producer,
    )
    ids = None if args.all else [args.id]
    try:
        done = await redrive(
            store, producer, settings.events_topic, ids=ids, directory=args.directory
        )
    except ProduceError as exc:
        sys.exit(f"dsync dlq redrive: the broker did not acknowledge ({exc}); run it again")
    finally:
        await producer.close()
    if ids is not None and not done:
        sys.exit(f"dsync dlq redrive: no dead letter with id {args.id}")
    return done
