"""Every SQL function has one current, readable definition: the CREATE in sql/functions is
the only one in the repository outside the numbered migrations (which keep history), and
no body is longer than 80 lines. Read from the files, so a reader's `grep` sees the same.
(tests/integration/test_sql_functions.py checks the files against a migrated database.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sql import function_files
from tests.sql_text import created_names, defined

ROOT = Path(__file__).parents[2]
MAX_BODY_LINES = 80
# Functions allowed a longer body, each with the reason. Empty: every long one was split
# into named phases (sync_access, recompute_roles).
LONG_BODIES: dict[str, str] = {}

# History (migrations) and generated copies (a build's copy of sql/ is not a definition).
_SKIPPED_DIRS = {"migrations", "__pycache__", "build", "dist", "dsync.egg-info"}


def repository_texts() -> dict[Path, str]:
    """Every text file of the repository but the numbered migrations, hidden folders (the
    virtualenv, caches) and build output."""
    texts = {}
    for top in ROOT.iterdir():
        if top.name.startswith("."):
            continue
        paths = [top] if top.is_file() else top.rglob("*")
        for path in paths:
            if not path.is_file() or _SKIPPED_DIRS & set(path.relative_to(ROOT).parts[:-1]):
                continue
            try:
                texts[path] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return texts


def live_functions() -> set[str]:
    return {name for file in function_files() for name, _ in defined(file.sql)}


def test_the_parser_sees_every_form_of_create() -> None:
    sql = (
        "-- CREATE FUNCTION commented.out() ...\n"
        "CREATE FUNCTION a.one(x int) RETURNS int LANGUAGE sql AS $$ SELECT 1\n$$;\n"
        "create or replace function A.Two() returns int language plpgsql as $fn$\n"
        "BEGIN\n RETURN 2;\nEND\n$fn$;\n"
    )
    assert [(name, body.count("\n")) for name, body in defined(sql)] == [
        ("a.one", 1),
        ("a.two", 4),
    ]


def test_each_live_function_has_one_definition_outside_the_migrations() -> None:
    live = live_functions()
    assert len(live) >= 50  # the files were read
    counts: Counter[str] = Counter()
    for text in repository_texts().values():
        counts.update(name for name in created_names(text) if name in live)
    assert {name: n for name, n in counts.items() if n != 1} == {}
    assert set(counts) == live


def test_no_function_body_is_longer_than_80_lines() -> None:
    lengths = {
        name: body.count("\n") for file in function_files() for name, body in defined(file.sql)
    }
    assert lengths
    too_long = {name: n for name, n in lengths.items() if n > MAX_BODY_LINES}
    assert too_long.keys() == LONG_BODIES.keys(), too_long
    assert set(LONG_BODIES) <= set(lengths)  # no stale allowance
