"""Every SQL function has one current, readable definition: the CREATE in sql/functions is
the only one in the repository outside the numbered migrations (which keep history), and
no body is longer than 80 lines. Read from the files, so a reader's `grep` sees the same.
(tests/integration/test_sql_functions.py checks the files against a migrated database.)"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from sql import function_files

ROOT = Path(__file__).parents[2]
MAX_BODY_LINES = 80
# Functions allowed a longer body, each with the reason. Empty: every long one was split
# into named phases (sync_access, recompute_roles).
LONG_BODIES: dict[str, str] = {}

_CREATE = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([\w.]+)\s*\(", re.IGNORECASE | re.MULTILINE
)
_BODY = re.compile(r"\bAS\s+(\$\w*\$)(.*?)\1", re.IGNORECASE | re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")
_SKIPPED_DIRS = {"migrations", "__pycache__", "node_modules"}


def defined(sql: str) -> list[tuple[str, str]]:
    """(name, body) of every function a script creates, in order. The body is the text
    between the first dollar quotes after the CREATE (any tag: $$, $fn$ ...)."""
    code = _LINE_COMMENT.sub("", sql)
    found = []
    for create in _CREATE.finditer(code):
        body = _BODY.search(code, create.end())
        assert body is not None, f"no $-quoted body after {create[0]!r}"
        found.append((create[1].lower(), body[2]))
    return found


def repository_texts() -> dict[Path, str]:
    """Every text file of the repository but the numbered migrations and hidden folders."""
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


def created_names(text: str) -> list[str]:
    """The names of the CREATE FUNCTION statements in any text (Python, Markdown or SQL)."""
    return [match[1].lower() for match in _CREATE.finditer(_LINE_COMMENT.sub("", text))]


def test_no_function_body_is_longer_than_80_lines() -> None:
    lengths = {
        name: body.count("\n") for file in function_files() for name, body in defined(file.sql)
    }
    assert lengths
    too_long = {name: n for name, n in lengths.items() if n > MAX_BODY_LINES}
    assert too_long.keys() == LONG_BODIES.keys(), too_long
    assert set(LONG_BODIES) <= set(lengths)  # no stale allowance
