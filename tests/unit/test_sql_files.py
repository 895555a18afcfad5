"""SQL package data: numbered migrations and named queries."""

from __future__ import annotations

import re

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


def test_query_looks_up_by_name() -> None:
    assert query("load_users") == queries()["load_users"]
    with pytest.raises(KeyError):
        query("no_such_query")
