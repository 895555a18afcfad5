"""The `dsync` command: one entry point per process kind, settings from the environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from dsync import access_cli
from dsync.logs import configure_logging
from dsync.settings import ConfigError, Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dsync", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ingress", help="run the webhook ingress (uvicorn)")
    commands.add_parser("worker", help="run a worker of the consumer group")
    commands.add_parser("migrate", help="apply database migrations (idempotent)")
    commands.add_parser("topics", help="create the Kafka topics (idempotent)")
    dev = commands.add_parser("dev", help="run everything locally (what `make run` does)")
    dev.add_argument("--workdir", type=Path, default=Path(".dsync/dev"))
    sample = commands.add_parser("sample", help="send a signed sample WorkOS event")
    sample.add_argument("--url", default="http://127.0.0.1:8000/webhooks/workos")
    sample.add_argument("--tamper", action="store_true", help="change the body after signing")
    sample.add_argument("--pad-to", type=int, default=0, help="pad the body to this many bytes")
    replay = commands.add_parser(
        "replay", help="re-apply a range of the events topic (harmless to the tables)"
    )
    start = replay.add_mutually_exclusive_group(required=True)
    start.add_argument("--from-beginning", action="store_true")
    start.add_argument("--from-time", type=_aware_time, metavar="ISO-8601")
    replay.add_argument("--directory", help="only this directory's events")
    rebuild = commands.add_parser(
        "rebuild", help="empty the dsync tables and rebuild them from the whole topic"
    )
    rebuild.add_argument("--yes", action="store_true", help="confirm (stop the workers first)")
    query = commands.add_parser("query", help="run one read-only SQL query and print the rows")
    query.add_argument("sql")
    query.add_argument("--database-url", default=None)
    status = commands.add_parser(
        "status", help="per directory: last events, latency, dead letters, health; consumer lag"
    )
    status.add_argument("--json", action="store_true", help="as GET /diagnostics serves it")
    dlq = commands.add_parser("dlq", help="list, show or redrive dead letters")
    actions = dlq.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the newest dead letters first")
    listing.add_argument("--directory", help="only this directory's")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one dead letter: reason, ids, headers")
    show.add_argument("--id", type=int, required=True)
    show.add_argument("--body", action="store_true", help="print the body (personal data)")
    redrive = actions.add_parser("redrive", help="produce dead letters to the events topic again")
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int)
    which.add_argument("--all", action="store_true", help="every letter never redriven")
    redrive.add_argument("--directory", help="only this directory's")
    access_cli.add_parsers(commands)
    _add_connection_flags(parser)
    return parser


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


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sample(args: argparse.Namespace, settings: Settings) -> None:
    from dsync.sample import sample_body, send

    if not settings.workos_webhook_secrets:
        raise ConfigError("DSYNC_WORKOS_WEBHOOK_SECRETS is not set (the ingress's secret)")
    body = sample_body()
    if args.pad_to > len(body):
        body = body[:-1] + b"," + b'"padding":"' + b"x" * (args.pad_to - len(body) - 14) + b'"}'
    secret = settings.workos_webhook_secrets[0].get_secret_value()
    status, answer = send(args.url, secret, body, tamper=args.tamper)
    print(status, answer)


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
