"""SQL package data: numbered migrations and named queries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sql import migrations, queries, query

REQUIRED_QUERIES = (
    "load_users",
    "save_users",
    "lock_offset",
    "store_offset",
    "seen_events",
    "record_events",
    "dead_letter",
)


def test_migrations_are_numbered_one_to_n_in_order() -> None:
    found = migrations()
    assert len(found) >= 1
    assert [m.version for m in found] == list(range(1, len(found) + 1))


def test_every_migration_has_a_name_and_sql() -> None:
    for migration in migrations():
        assert migration.name
        assert migration.sql.strip()


def test_migration_checksum_is_sha256_hex() -> None:
    for migration in migrations():
        assert re.fullmatch(r"[0-9a-f]{64}", migration.checksum)


def test_migration_names_are_unique() -> None:
    names = [m.name for m in migrations()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", REQUIRED_QUERIES)
def test_required_query_exists(name: str) -> None:
    assert name in queries()


def test_every_query_is_non_empty() -> None:
    named = queries()
    assert named
    for name, text in named.items():
        assert text.strip(), name
        assert "-- name:" not in text, name


def test_every_query_the_code_names_exists() -> None:
    """`query("x")` anywhere in the packages names a query of sql/queries (a typo would
    otherwise only fail at run time, on the path that uses it)."""
    root = Path(__file__).parents[2]
    named: set[str] = set()
    for package in ("dsync", "worker", "webhook_ingress", "bench"):
        for source in (root / package).rglob("*.py"):
            named |= set(re.findall(r"""\bquery\(\s*["'](\w+)["']""", source.read_text()))
    assert len(named) > 20
    assert sorted(named - queries().keys()) == []


def test_query_looks_up_by_name() -> None:
    assert query("load_users") == queries()["load_users"]
    with pytest.raises(KeyError):
        query("no_such_query")
