"""Every container the deployment files start runs a real `dsync` command line: the
command exists and its flags parse with the real parser. deploy/command_checks.py (run by
deploy/validate.py, without dsync installed) reads the command names with `ast`; this
test holds that reading to the real parser."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from dsync.shell.cli import _parser

CHECKS = Path(__file__).resolve().parents[2] / "deploy" / "command_checks.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("command_checks", CHECKS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checks = _load()


def _listed_commands() -> set[str]:
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("dsync has no subcommands")


def test_the_static_reading_finds_exactly_the_commands_dsync_help_lists() -> None:
    assert checks.dsync_commands() == _listed_commands()


DEPLOYED = list(checks.deployed_commands())


def test_the_new_processes_are_deployed() -> None:
    commands = {tuple(args[:2]) for _, args in DEPLOYED}
    assert ("pull", "workos") in commands
    assert ("scim",) in {c[:1] for c in commands}


@pytest.mark.parametrize(("where", "args"), DEPLOYED, ids=[w for w, _ in DEPLOYED])
def test_every_deployed_command_line_parses(where: str, args: list[str]) -> None:
    parsed = _parser().parse_args(args)  # SystemExit (2) on an unknown command or flag
    assert parsed.command == args[0], where


def test_a_misspelled_command_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        CHECKS.parent.joinpath("compose.yaml").read_text().replace('["scim"]', '["scm"]')
    )
    monkeypatch.setattr(checks, "COMPOSE", compose)

    problems = list(checks.check_commands())

    assert any("services.scim" in p and "`dsync scm`" in p for p in problems), problems
