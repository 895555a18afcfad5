"""Kernel below, shell above: the import-linter contracts in pyproject.toml hold for the
code as it is, and each kind of back-edge breaks them (so `make lint` and CI fail on one).

Each back-edge is planted in a copy of the packages, never in the work tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    "dsync",
    "reconcile",
    "worker",
    "webhook_ingress",
    "pull",
    "scim_server",
    "schemas",
    "sql",
)
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (the module that gets the import, what it imports, the contract that must break)
BACK_EDGES = {
    "kernel imports the worker": ("dsync/settings.py", "worker.main", "layers"),
    "kernel imports the ingress": ("dsync/metrics.py", "webhook_ingress.app", "layers"),
    "kernel imports the shell": ("dsync/logs.py", "dsync.shell.cli", "dsync-exhaustive"),
    "worker imports the shell": ("worker/offsets.py", "dsync.shell.command", "layers"),
    "worker imports the ingress": ("worker/decode.py", "webhook_ingress.providers", "layers"),
    "ingress imports the worker": ("webhook_ingress/app.py", "worker.store", "layers"),
    "schemas import the kernel": ("schemas/base.py", "dsync.settings", "layers"),
    "sql imports the worker": ("sql/__init__.py", "worker.errors", "layers"),
}


def _copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """lint-imports over the packages under `root` (first on the path, so a copy is read
    instead of the installed work tree)."""
    only = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *only],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_layers_hold() -> None:
    ran = _lint(REPO)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 kept, 0 broken" in ran.stdout


@pytest.mark.parametrize("edge", BACK_EDGES.values(), ids=BACK_EDGES.keys())
def test_a_back_edge_breaks_a_contract(tmp_path: Path, edge: tuple[str, str, str]) -> None:
    module, imported, contract = edge
    root = _copy(tmp_path)
    with (root / module).open("a", encoding="utf-8") as source:
        source.write(f"\nimport {imported}  # a back-edge\n")
    importer = module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    ran = _lint(root, contract)
    assert ran.returncode != 0, ran.stdout
    assert "BROKEN" in ran.stdout
    assert f"{importer} -> {imported}" in ran.stdout, ran.stdout


def test_a_dsync_module_in_no_layer_breaks_the_exhaustive_contract(tmp_path: Path) -> None:
    """A new kernel module must be named in the contracts, or the layers would not see it."""
    root = _copy(tmp_path)
    (root / "dsync" / "unlisted.py").write_text('"""Not in any layer."""\n', encoding="utf-8")
    ran = _lint(root, "dsync-exhaustive")
    assert ran.returncode != 0, ran.stdout
    assert "dsync.unlisted" in ran.stdout
