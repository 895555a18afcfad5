"""The `dsync` command: one entry point per process kind, settings from the environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

from dsync import access_cli
from dsync.logs import configure_logging
from dsync.settings import ConfigError, Settings, load_settings

_BROKER = "DSYNC_KAFKA_BOOTSTRAP_SERVERS"
_DATABASE = "DSYNC_DATABASE_URL"
_SECRETS = "DSYNC_WORKOS_WEBHOOK_SECRETS, DSYNC_STYTCH_WEBHOOK_SECRETS, DSYNC_POLIS_WEBHOOK_SECRETS"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsync",
        description=__doc__,
        epilog="Every setting is a DSYNC_* environment variable (README, Configuration).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _process_commands(commands)
    _sample_command(commands)
    _topic_commands(commands)
    _read_commands(commands)
    _dlq_command(commands)
    _offsets_command(commands)
    access_cli.add_parsers(commands)
    _add_connection_flags(parser)
    return parser


# A string: argparse does not subscript its classes at run time.
_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _process_commands(commands: _Commands) -> None:
    """The processes of a deployment, and `dev`, which runs them all locally."""
    _command(
        commands,
        "ingress",
        "run the webhook ingress (uvicorn): verify, then produce to the events topic",
        needs=(_BROKER, f"at least one of {_SECRETS} (a provider without one answers 404)"),
        reads=(
            "DSYNC_INGRESS_HOST, DSYNC_INGRESS_PORT, DSYNC_EVENTS_TOPIC",
            "DSYNC_MAX_BODY_BYTES, DSYNC_SIGNATURE_TOLERANCE_SECONDS",
            "DSYNC_BROKER_ACK_TIMEOUT_SECONDS, DSYNC_SHUTDOWN_GRACE_SECONDS",
        ),
    )
    _command(
        commands,
        "worker",
        "run a worker of the consumer group: apply events to PostgreSQL",
        needs=(_DATABASE, _BROKER),
        reads=(
            "DSYNC_EVENTS_TOPIC, DSYNC_DEAD_LETTER_TOPIC, DSYNC_CHANGES_TOPIC",
            "DSYNC_WORKER_GROUP_ID, DSYNC_WORKER_MAX_BATCH, DSYNC_DATABASE_POOL_SIZE",
            "DSYNC_WORKER_ADMIN_HOST, DSYNC_WORKER_ADMIN_PORT (metrics, default 9100)",
            "DSYNC_SYNC_LATENCY_BUDGET_SECONDS, DSYNC_DIAGNOSTICS_TOKEN",
        ),
    )
    _command(
        commands,
        "migrate",
        "apply database migrations (idempotent; safe from several processes at once)",
        needs=(_DATABASE,),
    )
    _command(
        commands,
        "topics",
        "create the events, dead-letter and changes topics (idempotent)",
        needs=(_BROKER,),
        reads=(
            "DSYNC_EVENTS_TOPIC, DSYNC_EVENTS_TOPIC_PARTITIONS, DSYNC_DEAD_LETTER_TOPIC",
            "DSYNC_CHANGES_TOPIC, DSYNC_CHANGES_TOPIC_PARTITIONS",
        ),
    )
    dev = _command(
        commands,
        "dev",
        "run everything locally (what `make run` does)",
        reads=(
            f"{_DATABASE}, {_BROKER} (embedded servers when unset)",
            f"{_SECRETS} (generated when unset)",
            "DSYNC_INGRESS_HOST, DSYNC_INGRESS_PORT, DSYNC_WORKER_ADMIN_PORT",
        ),
    )
    dev.add_argument(
        "--workdir",
        type=Path,
        default=Path(".dsync/dev"),
        help="where the embedded servers keep their data and logs (default: %(default)s)",
    )


def _sample_command(commands: _Commands) -> None:
    sample = _command(
        commands,
        "sample",
        "send a correctly signed sample event of one provider",
        detail="Exit 0 only when the answer is the one asked for: 200; 401 with --tamper; "
        "413 with --pad-to past DSYNC_MAX_BODY_BYTES.",
        needs=(f"the secret of --provider: one of {_SECRETS}",),
        reads=("DSYNC_INGRESS_HOST, DSYNC_INGRESS_PORT (the default URL), DSYNC_MAX_BODY_BYTES",),
    )
    sample.add_argument(
        "--provider",
        choices=("workos", "stytch", "polis"),
        default="workos",
        help="whose sample, signed the way that provider signs (default: %(default)s)",
    )
    sample.add_argument(
        "--url",
        default=None,
        help="where to send it (default: http://DSYNC_INGRESS_HOST:DSYNC_INGRESS_PORT"
        "/webhooks/PROVIDER)",
    )
    sample.add_argument(
        "--tamper", action="store_true", help="change the body after signing (expects 401)"
    )
    sample.add_argument(
        "--pad-to",
        type=int,
        default=0,
        metavar="BYTES",
        help="pad the body to exactly this many bytes (past the cap, expects 413)",
    )


def _topic_commands(commands: _Commands) -> None:
    """Commands that read the events topic again."""
    replay = _command(
        commands,
        "replay",
        "re-apply a range of the events topic (harmless to the tables)",
        needs=(_DATABASE, _BROKER),
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
    rebuild = _command(
        commands,
        "rebuild",
        "empty the dsync tables and rebuild them from the whole topic",
        needs=(_DATABASE, _BROKER),
        reads=("DSYNC_EVENTS_TOPIC, DSYNC_REBUILD_BATCH",),
    )
    rebuild.add_argument("--yes", action="store_true", help="confirm (stop the workers first)")


def _read_commands(commands: _Commands) -> None:
    query = _command(
        commands,
        "query",
        "run one read-only SQL query and print the rows (tab-separated, with a header)",
        needs=(f"{_DATABASE} or --database-url",),
    )
    query.add_argument("sql", help="one SQL statement, run in a read-only transaction")
    query.add_argument(
        "--database-url", default=None, help=f"the database to query (default: {_DATABASE})"
    )
    status = _command(
        commands,
        "status",
        "per directory: last events, latency, dead letters, health; consumer lag",
        needs=(_DATABASE, _BROKER),
        reads=("DSYNC_EVENTS_TOPIC, DSYNC_WORKER_GROUP_ID",),
    )
    status.add_argument("--json", action="store_true", help="as GET /diagnostics serves it")


def _dlq_command(commands: _Commands) -> None:
    dlq = _command(
        commands,
        "dlq",
        "list, show or redrive dead letters",
        needs=(_DATABASE, f"{_BROKER} (redrive only)"),
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
    show = actions.add_parser(
        "show",
        help="one dead letter: reason, ids, headers",
        description="One dead letter: reason, ids, headers; the body only with --body.",
    )
    show.add_argument("--id", type=int, required=True, help="the letter's id (from dlq list)")
    show.add_argument("--body", action="store_true", help="print the body (personal data)")
    redrive = actions.add_parser(
        "redrive",
        help="produce dead letters to the events topic again",
        description="Produce dead letters to the events topic again, after fixing the cause.",
    )
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="this letter (from dlq list)")
    which.add_argument("--all", action="store_true", help="every letter never redriven")
    redrive.add_argument(
        "--directory", metavar="DIRECTORY_ID", help="with --all: only this directory's letters"
    )


def _offsets_command(commands: _Commands) -> None:
    offsets = _command(
        commands,
        "offsets",
        "the workers' stored offsets and held partitions; decide for a hold",
        needs=(_DATABASE, f"{_BROKER} (show and reset --to earliest|latest)"),
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


def _command(
    commands: _Commands,
    name: str,
    summary: str,
    *,
    detail: str = "",
    needs: tuple[str, ...] = (),
    reads: tuple[str, ...] = (),
) -> argparse.ArgumentParser:
    """A subcommand whose description lists the variables it needs and the ones it reads."""
    lines = [textwrap.fill(f"{summary[0].upper()}{summary[1:]}. {detail}".strip(), 79)]
    for title, items in (("Needs:", needs), ("Also reads:", reads)):
        if items:
            lines += ["", title]
            lines += [
                textwrap.fill(item, 79, initial_indent="  ", subsequent_indent="    ")
                for item in items
            ]
    return commands.add_parser(
        name,
        help=summary,
        description="\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """Every command also takes the two connection settings as flags (beside the
    environment and a running `dsync dev`'s env file), so a "not set" error can name one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_connection_flags(child)
            return
    for flag, (variable, metavar) in _CONNECTION_FLAGS.items():
        if flag not in parser._option_string_actions:
            parser.add_argument(
                flag, default=argparse.SUPPRESS, help=f"instead of ${variable}", metavar=metavar
            )


_CONNECTION_FLAGS = {
    "--database-url": ("DSYNC_DATABASE_URL", "URL"),
    "--kafka-bootstrap-servers": ("DSYNC_KAFKA_BOOTSTRAP_SERVERS", "HOST:PORT[,...]"),
}


def _environment(command: str) -> dict[str, str]:
    """The process environment; every command but `dsync dev` (which starts its own
    servers) completes it from a running `dsync dev`'s env file (dsync.devenv)."""
    if command == "dev":
        return dict(os.environ)
    from dsync import devenv

    return devenv.with_dev_env(os.environ)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    overrides: dict[str, object] = {}
    if args.command == "dev" and "DSYNC_LOG_FORMAT" not in os.environ:
        overrides["log_format"] = "console"
    for name in ("database_url", "kafka_bootstrap_servers"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    try:
        settings = load_settings(_environment(args.command), **overrides)
        configure_logging(settings.log_level, settings.log_format)
        _run(args, settings)
    except ConfigError as exc:
        sys.exit(f"dsync {args.command}: {exc}")
    except KeyboardInterrupt:  # Ctrl-C: the conventional status, not a traceback
        sys.exit(130)


def _run(args: argparse.Namespace, settings: Settings) -> None:
    if args.command in access_cli.COMMANDS:
        access_cli.run(args, settings)
    elif args.command == "ingress":
        from webhook_ingress.main import main as ingress

        ingress(settings)
    elif args.command == "worker":
        from worker.main import main as worker

        worker(settings)
    elif args.command == "migrate":
        from dsync.migrate import migrate

        asyncio.run(migrate(settings.require_database_url()))
    elif args.command == "topics":
        from dsync.topics import ensure_topics

        asyncio.run(
            ensure_topics(settings.require_bootstrap_servers(), settings.topic_partitions())
        )
    elif args.command == "dev":
        from dsync.dev import run

        run(settings, args.workdir)
    elif args.command == "replay":
        from dsync import eventloop
        from worker.replay import Range, replay

        totals = eventloop.run(replay(settings, Range(args.from_time, args.directory)))
        print(json.dumps(dict(totals)))
    elif args.command == "rebuild":
        from dsync import eventloop
        from worker.replay import rebuild

        if not args.yes:
            raise ConfigError("rebuild rewrites every dsync table: stop the workers, add --yes")
        print(json.dumps(dict(eventloop.run(rebuild(settings)))))
    elif args.command == "sample":
        _sample(args, settings)
    elif args.command == "query":
        _query(args.sql, args.database_url or settings.require_database_url())
    elif args.command == "status":
        from worker.diagnostics import read_status, render

        found = asyncio.run(read_status(settings))
        print(json.dumps(found.to_json(), indent=2) if args.json else render(found))
    elif args.command == "dlq":
        from worker.dlq import main as dlq

        dlq(settings, args)
    elif args.command == "offsets":
        from worker.offsets import main as offsets

        offsets(settings, args)


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sample(args: argparse.Namespace, settings: Settings) -> None:
    from dsync.sample import run

    problem = run(settings, args.provider, url=args.url, tamper=args.tamper, pad_to=args.pad_to)
    if problem is not None:
        sys.exit(f"dsync sample: {problem}")


def _query(sql: str, database_url: str) -> None:
    import asyncpg

    async def fetch() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction(readonly=True):
                rows = await conn.fetch(sql)
        finally:
            await conn.close()
        if rows:
            print("\t".join(rows[0].keys()))
        for row in rows:
            print("\t".join("" if v is None else str(v) for v in row.values()))

    asyncio.run(fetch())
