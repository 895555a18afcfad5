"""`dsync offsets show|reset|resume`: the workers' stored offsets and held partitions, and
an operator's decision for a hold (worker/offsets.py does it, audited with the actor)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from dsync.settings import Settings
from dsync.shell.command import BROKER, DATABASE, Commands, actor, add_command


def register(commands: Commands) -> None:
    offsets = add_command(
        commands,
        "offsets",
        "the workers' stored offsets and held partitions; decide for a hold",
        _offsets,
        needs=(DATABASE, f"{BROKER} (show and reset --to earliest|latest)"),
    )
    moves = offsets.add_subparsers(dest="action", required=True, metavar="ACTION")
    moves.add_parser(
        "show",
        help="per partition: stored offset, the log's start and end, hold",
        description="Per partition: the stored next offset, the log's start and end, and any"
        " hold with its reason.",
    )
    reset = moves.add_parser(
        "reset",
        help="store a new next offset and release the hold",
        description="Store a new next offset for a partition and release its hold (audited)."
        " Reconcile afterwards: records skipped or re-read are not repaired by this.",
    )
    reset.add_argument("--partition", type=int, required=True, help="the held partition")
    reset.add_argument("--to", required=True, help="earliest, latest or an offset")
    reset.add_argument("--yes", action="store_true", help="confirm (audited)")
    resume = moves.add_parser(
        "resume",
        help="accept a batch held by the dead-letter cap: dead-letter it, go on",
        description="Accept the batch that the dead-letter cap held: its refused events are"
        " dead-lettered and the partition goes on (audited).",
    )
    resume.add_argument("--partition", type=int, required=True, help="the held partition")
    resume.add_argument("--yes", action="store_true", help="confirm (audited)")


def _offsets(args: argparse.Namespace, settings: Settings) -> None:
    from worker.offsets import Refused

    if args.action in ("reset", "resume") and not args.yes:
        sys.exit(f"dsync offsets {args.action}: this moves a stream on for good; add --yes")
    try:
        print(json.dumps(asyncio.run(_command(settings, args)), indent=2))
    except Refused as exc:
        sys.exit(f"dsync offsets {args.action}: {exc}")


async def _command(settings: Settings, args: argparse.Namespace) -> Any:
    from worker import offsets
    from worker.store import Store

    store = await Store.open(settings.require_database_url(), size=1)
    try:
        if args.action == "show":
            return await offsets.show(store, settings)
        if args.action == "reset":
            return await offsets.reset(store, settings, args.partition, args.to, actor())
        return await offsets.resume(store, settings, args.partition, actor())
    finally:
        await store.close()
