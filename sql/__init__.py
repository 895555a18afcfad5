"""SQL lives here, loaded as package data.

- `migrations/`: numbered, applied once each; they hold tables, indexes and data changes.
  An applied migration never changes (its checksum is recorded).
- `functions/`: the one current definition of every SQL function, trigger and view, one file
  per concept, applied after the migrations in file-name order and again whenever a file's
  checksum changes. Each statement is `CREATE OR REPLACE`; a change of signature (arguments
  or result type) starts the file with the `DROP FUNCTION IF EXISTS` of the old signature.
- `queries/`: named queries the Python code runs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_(\w+)\.sql$")
_FUNCTION_FILE = re.compile(r"^\d{2}_\w+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@cache
def migrations() -> tuple[Migration, ...]:
    """Every migration, in version order."""
    found = []
    for entry in resources.files(__name__).joinpath("migrations").iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must be 1..n without gaps, found {versions}")
    return tuple(found)


@dataclass(frozen=True, slots=True)
class FunctionFile:
    """A file of sql/functions: re-applied whenever its checksum changes."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@cache
def function_files() -> tuple[FunctionFile, ...]:
    """Every file of sql/functions, in the order they are applied (by name)."""
    found = [
        FunctionFile(entry.name, entry.read_text(encoding="utf-8"))
        for entry in resources.files(__name__).joinpath("functions").iterdir()
        if _FUNCTION_FILE.match(entry.name)
    ]
    return tuple(sorted(found, key=lambda f: f.name))


@cache
def queries() -> dict[str, str]:
    """Named queries from sql/queries/*.sql, keyed by their `-- name:` header."""
    named: dict[str, str] = {}
    for entry in sorted(resources.files(__name__).joinpath("queries").iterdir(), key=str):
        if not entry.name.endswith(".sql"):
            continue
        parts = _NAME.split(entry.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in named:
                raise RuntimeError(f"query {name!r} is defined twice")
            named[name] = body.strip()
    return named


def query(name: str) -> str:
    return queries()[name]
