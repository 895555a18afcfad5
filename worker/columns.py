"""Rows bound to a write query's parameters by column name, never by field position.

A write query names the column of each of its parameters where it reads them:
`unnest($1::text[], $2::timestamptz[]) AS t (id, updated_at)` (one array per column,
set-based) or `(VALUES ($1::text, $2::bytea)) AS t (reason, body)` (one row). `binding`
reads those names from the SQL and fills `$n` with the row's field of the name `$n`
carries, so the order of a dataclass's fields does not matter. It refuses (ColumnMismatch,
before anything is written) a query and a row that disagree: a field no parameter names,
a column no field fills, a field bound as an SQL type it cannot hold, or, for a table
write, an INSERT whose column list does not begin with the named columns in their order
(`SELECT *` from the aliased source is matched to the INSERT by those names).

Parsing is pure; `binding` reads the named query once per process.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from sql import query
from worker.rows import Write


class ColumnMismatch(RuntimeError):
    """A row type and the query that writes it disagree: nothing is written (a bug)."""


@dataclass(frozen=True, slots=True)
class Parameter:
    number: int  # $n
    column: str
    sql_type: str  # the cast's element type, e.g. text for `$1::text[]`


@dataclass(frozen=True, slots=True)
class Statement:
    """What a write query says about its columns."""

    parameters: tuple[Parameter, ...]  # in the order the alias names them
    table: str | None  # the first INSERT's target, if any
    inserted: tuple[str, ...]  # that INSERT's column list


@dataclass(frozen=True, slots=True)
class Binding:
    """A checked write query: `columns[i]` is the field that fills `$(i+1)`."""

    sql: str
    columns: tuple[str, ...]

    def arrays(self, rows: Sequence[object]) -> list[list[object]]:
        """One array per parameter, for `unnest`: the rows' fields of that column's name."""
        return [[getattr(row, name) for row in rows] for name in self.columns]

    def values(self, row: object) -> tuple[object, ...]:
        """One row's parameters, for `(VALUES (...))`."""
        return tuple(getattr(row, name) for name in self.columns)


# The SQL types a field's Python type can be bound as (asyncpg's codecs, and ours for jsonb).
COMPATIBLE: Mapping[object, frozenset[str]] = {
    str: frozenset({"text"}),
    int: frozenset({"integer", "bigint"}),
    float: frozenset({"float8"}),
    bool: frozenset({"boolean"}),
    datetime: frozenset({"timestamptz"}),
    bytes: frozenset({"bytea"}),
    Mapping: frozenset({"jsonb"}),
}

_COMMENT = re.compile(r"--[^\n]*")
_SOURCE = re.compile(
    r"(?:\bunnest\s*\((?P<arrays>[^()]*)\)|\(\s*VALUES\s*\((?P<values>[^()]*)\)\s*\))"
    r"\s*AS\s+\w+\s*\((?P<names>[^()]*)\)",
    re.IGNORECASE,
)
_PARAMETER = re.compile(r"\$(\d+)::(\w+)(\[\])?")
_PLACEHOLDER = re.compile(r"\$(\d+)")
_INSERT = re.compile(
    r"\bINSERT\s+INTO\s+([\w.]+)(?:\s+AS\s+\w+)?\s*\((?P<names>[^()]*)\)", re.IGNORECASE
)


@cache
def binding(write: Write) -> Binding:
    """The checked binding of `write`'s named query; raises ColumnMismatch."""
    return bind(write, query(write.query))


def bind(write: Write, sql: str) -> Binding:
    """Check `sql` against `write` and bind its parameters to the row's fields by name."""
    found = statement(sql)
    wrong = problems(write, found)
    if wrong:
        raise ColumnMismatch(f"{write.query} and {write.row.__name__} disagree: {'; '.join(wrong)}")
    ordered = sorted(found.parameters, key=lambda p: p.number)
    return Binding(sql, tuple(p.column for p in ordered))


def statement(sql: str) -> Statement:
    """Parse a write query's named parameters and its INSERT; raises ColumnMismatch when it
    does not name each parameter's column exactly once, as `$n::type`."""
    text = _COMMENT.sub("", sql)
    sources = list(_SOURCE.finditer(text))
    if len(sources) != 1:
        raise ColumnMismatch("a write query names its parameters' columns in one source")
    source = sources[0]
    arrays = source["arrays"] is not None
    arguments = _split(source["arrays"] if arrays else source["values"])
    names = [_identifier(n) for n in _split(source["names"])]
    if len(arguments) != len(names):
        raise ColumnMismatch(f"{len(arguments)} parameters named by {len(names)} columns")
    parameters = tuple(_parameter(a, n, arrays) for a, n in zip(arguments, names, strict=True))
    numbers = sorted(p.number for p in parameters)
    used = {int(n) for n in _PLACEHOLDER.findall(text)}
    if numbers != list(range(1, len(numbers) + 1)) or used != set(numbers):
        raise ColumnMismatch(f"parameters must be $1..$n, each named once; found {numbers}")
    insert = _INSERT.search(text)
    if insert is None:
        return Statement(parameters, None, ())
    inserted = tuple(_identifier(n) for n in _split(insert["names"]))
    return Statement(parameters, insert[1], inserted)


def problems(write: Write, found: Statement) -> list[str]:
    """Every way `found` disagrees with `write`'s row type and table; [] when they agree."""
    fields_ = [f.name for f in fields(write.row)]
    named = [p.column for p in found.parameters]
    wrong = []
    if missing := sorted(set(fields_) - set(named)):
        wrong.append(f"no parameter names the fields {missing}")
    if extra := sorted(set(named) - set(fields_)):
        wrong.append(f"no field fills the columns {extra}")
    if len(set(named)) != len(named):
        wrong.append(f"a column is named twice in {named}")
    hints = get_type_hints(write.row)
    for p in found.parameters:
        kind, _ = python_type(hints[p.column]) if p.column in hints else (None, False)
        if kind is not None and p.sql_type not in COMPATIBLE.get(kind, frozenset()):
            wrong.append(
                f"{p.column} holds {getattr(kind, '__name__', kind)}, bound as {p.sql_type}"
            )
    if write.table is not None:
        if found.table != write.table:
            wrong.append(f"inserts into {found.table}, not {write.table}")
        elif found.inserted[: len(named)] != tuple(named):
            wrong.append(f"INSERT columns {list(found.inserted)} do not begin with {named}")
    return wrong


def python_type(hint: Any) -> tuple[object, bool]:
    """A field's type without `| None` (generics by their origin), and whether it had it."""
    if get_origin(hint) in (Union, types.UnionType):
        args = get_args(hint)
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return get_origin(rest[0]) or rest[0], len(rest) < len(args)
        return hint, False
    return get_origin(hint) or hint, False


def _parameter(argument: str, name: str, array: bool) -> Parameter:
    match = _PARAMETER.fullmatch(argument)
    if match is None or (match[3] is not None) != array:
        shape = "$n::type[]" if array else "$n::type"
        raise ColumnMismatch(f"{argument!r} (column {name}) is not {shape}")
    return Parameter(int(match[1]), name, match[2].lower())


def _split(listed: str) -> list[str]:
    return [part.strip() for part in listed.split(",") if part.strip()]


def _identifier(name: str) -> str:
    """A column as PostgreSQL resolves it: quoted as written, unquoted folded to lower case."""
    return name[1:-1] if name.startswith('"') and name.endswith('"') else name.lower()
