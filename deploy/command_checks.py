"""The `dsync` commands the deployment files run, for deploy/validate.py and the test suite.

Every container of the dsync image runs `dsync ARGS` (the image's ENTRYPOINT). Its ARGS
are the compose services' `command`, the Kubernetes pod templates' `args` (base,
components and overlays, read from the files: no kustomize needed) and the Dockerfile's
CMD. `check_commands` fails on a command that `dsync --help` does not list, read with
`ast` from the `add_command(commands, "NAME", ...)` calls in dsync/shell/ (the
validation venv does not install dsync). tests/unit/test_deploy_commands.py checks that
reading against the real parser, and parses every ARGS in full with it (flags included).

Standard library and PyYAML only.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SHELL = ROOT / "dsync" / "shell"
COMPOSE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
KUBERNETES = ROOT / "deploy" / "k8s"
IMAGE = "dsync"  # the image name every manifest uses for our containers


def dsync_commands(shell: Path = SHELL) -> frozenset[str]:
    """The commands `dsync --help` lists: the names given to `add_command(commands, NAME)`
    and to `commands.add_parser(NAME)` (`commands` is what every `register` receives)."""
    names: set[str] = set()
    for module in sorted(shell.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            name = _registered(node) if isinstance(node, ast.Call) else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                names.add(name.value)
    return frozenset(names)


def _registered(call: ast.Call) -> ast.expr | None:
    func, args = call.func, call.args
    if isinstance(func, ast.Name) and func.id == "add_command" and len(args) > 1:
        return args[1]
    if (
        isinstance(func, ast.Attribute)
        and func.attr == "add_parser"
        and isinstance(func.value, ast.Name)
        and func.value.id == "commands"
        and args
    ):
        return args[0]
    return None


def deployed_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, ARGS) for every container of the dsync image in deploy/."""
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        if str(service.get("image", "")).split(":")[0] == IMAGE:
            yield f"{_rel(COMPOSE)}: services.{name}", list(service.get("command") or [])
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for container in _containers(doc):
                if str(container.get("image", "")).split(":")[0] == IMAGE:
                    where = f"{_rel(path)}: {doc['kind']}/{doc['metadata']['name']}"
                    yield where, [str(arg) for arg in container.get("args") or []]
    yield f"{_rel(DOCKERFILE)}: CMD", _dockerfile_cmd(DOCKERFILE.read_text())


def _containers(doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or "spec" not in doc:
        return []
    spec = doc["spec"]
    template = (spec.get("jobTemplate") or {}).get("spec", spec).get("template") or {}
    containers: list[dict[str, Any]] = (template.get("spec") or {}).get("containers") or []
    return containers


def _dockerfile_cmd(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.startswith("CMD ")]
    cmd: list[str] = json.loads(lines[-1].removeprefix("CMD ")) if lines else []
    return cmd


def check_commands() -> Iterator[str]:
    known = dsync_commands()
    if not known:
        yield f"{_rel(SHELL)}: found no add_command(...) registrations"
        return
    for where, args in deployed_commands():
        if not args:
            yield f"{where}: runs no command (the image's default would apply silently)"
        elif args[0] not in known:
            yield f"{where}: `dsync {args[0]}` is not a command `dsync --help` lists"


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
