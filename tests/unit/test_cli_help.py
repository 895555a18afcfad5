"""`dsync --help` and every subcommand's help: each command has a description, each flag a
help text, and a command that stops for a missing variable lists it in its description."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from dsync.shell import access
from dsync.shell.cli import _parser

# Commands that stop for a missing setting, as a newcomer would type them.
NEEDS_SETTINGS = [
    ["ingress"],
    ["worker"],
    ["migrate"],
    ["topics"],
    ["replay", "--from-beginning"],
    ["rebuild", "--yes"],
    ["query", "SELECT 1"],
    ["status"],
    ["dlq", "list"],
    ["sample"],
    ["sample", "--provider", "stytch"],
    ["sample", "--provider", "polis"],
]


def _subparsers(
    parser: argparse.ArgumentParser,
) -> Iterator[argparse._SubParsersAction[argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield action


def _commands() -> Iterator[tuple[str, argparse.ArgumentParser, str | None]]:
    """(path, parser, its one-line help) for every command of `dsync`, subcommands included;
    the access commands are dsync/shell/access.py's."""
    pending: list[tuple[str, argparse.ArgumentParser]] = [("dsync", _parser())]
    while pending:
        path, parser = pending.pop()
        for sub in _subparsers(parser):
            summaries = {choice.dest: choice.help for choice in sub._choices_actions}
            for name, child in sub.choices.items():
                if path == "dsync" and name in access.COMMANDS:
                    continue
                pending.append((f"{path} {name}", child))
                yield f"{path} {name}", child, summaries.get(name)


def test_every_command_has_a_summary_and_a_description() -> None:
    missing = [
        path for path, parser, summary in _commands() if not summary or not parser.description
    ]
    assert missing == []


def test_every_flag_and_argument_has_help() -> None:
    missing = [
        f"{path} {action.option_strings or action.dest}"
        for path, parser, _summary in _commands()
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        and not action.help
    ]
    assert missing == []


def test_no_help_text_is_cut_off() -> None:
    """A help text ends with a word, not with a possessive waiting for its noun."""
    cut = [
        f"{path}: {action.help}"
        for path, parser, _summary in _commands()
        for action in parser._actions
        if action.help and re.search(r"('s|\bthe|\bof|\bthis)$", action.help.strip())
    ]
    assert cut == []


def _without_settings() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DSYNC_")}
    env["DSYNC_DEV_ENV"] = os.devnull  # never a running `dsync dev`'s settings
    return env


@pytest.mark.parametrize("argv", NEEDS_SETTINGS, ids=" ".join)
def test_the_variable_a_command_stops_for_is_in_its_description(argv: list[str]) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "dsync", *argv],
        env=_without_settings(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode != 0
    named = re.findall(r"DSYNC_[A-Z_]+", ran.stderr)
    assert named, ran.stderr
    command = argv[0]
    description = next(p.description for path, p, _s in _commands() if path == f"dsync {command}")
    assert description is not None
    for variable in named:
        assert variable in description, (command, variable, description)


def test_every_command_registered_its_handler() -> None:
    """Commands register themselves: each top-level command's parser carries the handler
    that dsync.shell.cli runs, so there is no dispatch table to forget one in."""
    top = next(_subparsers(_parser()))
    without = [
        name for name, child in top.choices.items() if not callable(child.get_default("run"))
    ]
    assert without == []
