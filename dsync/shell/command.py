"""How a command registers itself: its parser, whose description lists the variables it
needs and the ones it reads, and its handler (`set_defaults(run=...)`), which
dsync.shell.cli calls with the parsed arguments and the settings.

Every command module is imported to build the parser, so a handler imports the worker,
the ingress and their drivers only when it runs: `dsync --help`, `dsync sample` and the
other small commands start without loading them."""

from __future__ import annotations

import argparse
import getpass
import os
import textwrap
from collections.abc import Callable
from typing import TypeAlias

from dsync.settings import Settings

BROKER = "DSYNC_KAFKA_BOOTSTRAP_SERVERS"
DATABASE = "DSYNC_DATABASE_URL"
SECRETS = "DSYNC_WORKOS_WEBHOOK_SECRETS, DSYNC_STYTCH_WEBHOOK_SECRETS, DSYNC_POLIS_WEBHOOK_SECRETS"

# A string: argparse does not subscript its classes at run time.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

Handler = Callable[[argparse.Namespace, Settings], None]
"""Runs a command. It may exit (sys.exit) with a message; a ConfigError it raises is
reported as `dsync COMMAND: ...` by the entry point."""


def add_command(
    commands: Commands,
    name: str,
    summary: str,
    run: Handler,
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
    parser = commands.add_parser(
        name,
        help=summary,
        description="\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def actor() -> str:
    """Who ran the command, for the audit log: DSYNC_ACTOR, else the OS user."""
    return os.environ.get("DSYNC_ACTOR") or getpass.getuser()
