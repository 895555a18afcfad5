"""The `dsync` command: one entry point per process kind, settings from the environment."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from dsync.logs import configure_logging
from dsync.settings import ConfigError, load_settings
from dsync.shell import (
    access,
    dlq,
    offsets,
    processes,
    pull,
    query,
    reconcile,
    replay,
    sample,
    scim,
    status,
)
from dsync.shell.command import Commands, Handler

# Each registers its commands (parser and handler); `dsync --help` lists them in this order.
_REGISTRATIONS: tuple[Callable[[Commands], None], ...] = (
    processes.register,
    pull.register,
    sample.register,
    replay.register,
    reconcile.register,
    query.register,
    status.register,
    dlq.register,
    offsets.register,
    access.register,
    scim.register,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsync",
        description=__doc__,
        epilog="Every setting is a DSYNC_* environment variable (README, Configuration).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _REGISTRATIONS:
        register(commands)
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
    run: Handler = args.run
    try:
        settings = load_settings(_environment(args.command), **overrides)
        configure_logging(settings.log_level, settings.log_format)
        run(args, settings)
    except ConfigError as exc:
        sys.exit(f"dsync {args.command}: {exc}")
    except KeyboardInterrupt:  # Ctrl-C: the conventional status, not a traceback
        sys.exit(130)
