"""sql/functions holds the one current definition of every SQL function, trigger and view,
and `dsync migrate` applies each file after the migrations, again whenever it changes."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from dsync.migrate import _BOOTSTRAP, apply_function_files, apply_migrations, migrate
from sql import FunctionFile, function_files

pytestmark = pytest.mark.db

SQL_DIR = Path(__file__).parents[2] / "sql"
_DEFINED = re.compile(
    r"^\s*CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|TRIGGER|VIEW)\s+([\w.]+)",
    re.MULTILINE | re.IGNORECASE,
)
# Functions the move into sql/functions rewrote on purpose (split into named phases, same
# results: the access tests prove it). Their signature, settings and grants must not change.
RESTRUCTURED = {
    "dsync_internal.recompute_roles(text[],jsonb)",
    "dsync_internal.sync_access(text[],text[],text[],jsonb,text[])",
}

_FUNCTIONS = """
SELECT p.oid::regprocedure::text AS name, pg_get_functiondef(p.oid) AS definition,
       pg_get_function_result(p.oid) AS result, p.proconfig::text AS config,
       p.provolatile, p.prosecdef, p.proacl::text AS acl
FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname IN ('dsync', 'dsync_internal')
"""
_TRIGGERS = """
SELECT t.tgname AS name, pg_get_triggerdef(t.oid) AS definition
FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname IN ('dsync', 'dsync_internal') AND NOT t.tgisinternal
"""
_VIEWS = """
SELECT c.oid::regclass::text AS name, pg_get_viewdef(c.oid) AS definition,
       obj_description(c.oid, 'pg_class') AS comment, c.relacl::text AS acl
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname IN ('dsync', 'dsync_internal') AND c.relkind = 'v'
"""

Snapshot = dict[str, dict[str, object]]


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def snapshot(conn: asyncpg.Connection) -> Snapshot:
    """Every function, trigger and view of dsync's schemas, as PostgreSQL prints it."""
    found: Snapshot = {}
    for kind, query in (("function", _FUNCTIONS), ("trigger", _TRIGGERS), ("view", _VIEWS)):
        for row in await conn.fetch(query):
            found[f"{kind} {row['name']}"] = dict(row)
    return found


async def recorded(conn: asyncpg.Connection) -> dict[str, tuple[str, datetime]]:
    rows = await conn.fetch(
        "SELECT name, checksum, applied_at FROM dsync_internal.schema_functions"
    )
    return {row["name"]: (row["checksum"], row["applied_at"]) for row in rows}


def defined_outside_migrations() -> Counter[str]:
    """`kind name` of every CREATE of a function, trigger or view in sql/ outside the
    numbered migrations (sql/functions, sql/queries), counted; `replaced` counts those
    written as CREATE OR REPLACE."""
    names: Counter[str] = Counter()
    for path in sorted(SQL_DIR.rglob("*.sql")):
        if path.parent.name == "migrations":
            continue
        for replace, kind, name in _DEFINED.findall(path.read_text()):
            names[f"{kind.lower()} {name}"] += 1
            names["replaced"] += bool(replace)
    return names


def live_name(key: str) -> str:
    """`function dsync_internal.audit(text, ...)` -> `function dsync_internal.audit`."""
    return key.split("(")[0]


async def test_migrating_from_empty_applies_every_function_file(empty_database_url: str) -> None:
    await migrate(empty_database_url)

    async with connected(empty_database_url) as conn:
        applied = await recorded(conn)
    assert function_files()  # the package ships the files
    assert {name: checksum for name, (checksum, _) in applied.items()} == {
        f.name: f.checksum for f in function_files()
    }


async def test_migrating_again_applies_no_function_file(empty_database_url: str) -> None:
    await migrate(empty_database_url)
    async with connected(empty_database_url) as conn:
        before = await recorded(conn)

    await migrate(empty_database_url)

    async with connected(empty_database_url) as conn:
        assert await recorded(conn) == before  # not even applied_at moved
        assert await apply_function_files(conn) == []


async def test_a_changed_function_file_is_applied_again(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate(empty_database_url)
    async with connected(empty_database_url) as conn:
        before = await recorded(conn)
    first, *rest = function_files()
    changed = FunctionFile(
        first.name,
        first.sql + "\nCREATE OR REPLACE FUNCTION dsync_internal.probe() RETURNS integer"
        " LANGUAGE sql AS $$ SELECT 42 $$;\n",
    )
    monkeypatch.setattr("dsync.migrate.function_files", lambda: (changed, *rest))

    await migrate(empty_database_url)

    async with connected(empty_database_url) as conn:
        assert await conn.fetchval("SELECT dsync_internal.probe()") == 42
        after = await recorded(conn)
    assert after[first.name][0] == changed.checksum
    assert after[first.name][1] > before[first.name][1]
    assert {n: after[n] for n in after if n != first.name} == {
        n: before[n] for n in before if n != first.name
    }


async def test_a_file_failing_part_way_applies_nothing_and_is_applied_next_time(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await migrate(empty_database_url)
    async with connected(empty_database_url) as conn:
        before = await recorded(conn)
    first, *rest = function_files()
    probe = (
        "\nCREATE OR REPLACE FUNCTION dsync_internal.probe() RETURNS integer"
        " LANGUAGE sql AS $$ SELECT 42 $$;\n"
    )
    broken = FunctionFile(first.name, first.sql + probe + "SELECT 1 / 0;\n")
    monkeypatch.setattr("dsync.migrate.function_files", lambda: (broken, *rest))

    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(empty_database_url)

    async with connected(empty_database_url) as conn:
        assert await conn.fetchval("SELECT to_regproc('dsync_internal.probe')") is None
        assert await recorded(conn) == before
    fixed = FunctionFile(first.name, first.sql + probe)
    monkeypatch.setattr("dsync.migrate.function_files", lambda: (fixed, *rest))
    await migrate(empty_database_url)
    async with connected(empty_database_url) as conn:
        assert await conn.fetchval("SELECT dsync_internal.probe()") == 42
        assert (await recorded(conn))[first.name][0] == fixed.checksum


async def test_function_files_define_what_the_migrations_left(empty_database_url: str) -> None:
    async with connected(empty_database_url) as conn:
        await conn.execute(_BOOTSTRAP)
        await apply_migrations(conn)
        migrated = await snapshot(conn)
        await apply_function_files(conn)
        current = await snapshot(conn)

    assert set(migrated) <= set(current)
    for key, was in migrated.items():
        now = current[key]
        if key.removeprefix("function ") in RESTRUCTURED:
            was, now = dict(was), dict(now)
            del was["definition"], now["definition"]
        assert now == was, key


async def test_reapplying_the_function_files_changes_no_definition(
    empty_database_url: str,
) -> None:
    await migrate(empty_database_url)
    async with connected(empty_database_url) as conn:
        before = await snapshot(conn)
        await conn.execute("DELETE FROM dsync_internal.schema_functions")

    await migrate(empty_database_url)

    async with connected(empty_database_url) as conn:
        assert await snapshot(conn) == before
        assert set(await recorded(conn)) == {f.name for f in function_files()}


async def test_every_live_definition_is_in_sql_functions_exactly_once(
    empty_database_url: str,
) -> None:
    await migrate(empty_database_url)
    async with connected(empty_database_url) as conn:
        live = {live_name(key) for key in await snapshot(conn)}

    defined = defined_outside_migrations()
    replaced = defined.pop("replaced")
    assert {name for name, count in defined.items() if count > 1} == set()
    assert set(defined) == live
    assert replaced == defined.total()  # so that applying a file again succeeds


def test_no_sql_function_is_longer_than_80_lines() -> None:
    bodies = re.findall(
        r"^CREATE OR REPLACE FUNCTION ([\w.]+).*?\$\$(.*?)\$\$;",
        "\n".join(f.sql for f in function_files()),
        re.MULTILINE | re.DOTALL,
    )
    assert bodies
    assert {name: body.count("\n") for name, body in bodies if body.count("\n") > 80} == {}
