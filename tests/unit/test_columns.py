"""Each written row is bound to its query's parameters by column name, and every write query
in sql/queries agrees with the row it writes (tests/integration/test_columns.py checks the
rows against a migrated database)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import pytest

from sql import queries, query
from worker import rows
from worker.columns import ColumnMismatch, bind, binding, statement
from worker.rows import WRITES, UserRow, Write


@dataclass(frozen=True, slots=True)
class Person:
    first_name: str
    last_name: str
    born: datetime


PEOPLE = Write("save_people", Person, "people")

GOOD = """
INSERT INTO people AS p (first_name, last_name, born)
SELECT * FROM unnest($2::text[], $1::text[], $3::timestamptz[]) AS t (first_name, last_name, born)
"""


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.query)
def test_every_declared_write_names_exactly_its_rows_fields(write: Write) -> None:
    bound = binding(write)
    assert sorted(bound.columns) == sorted(f.name for f in fields(write.row))
    assert bound.sql == query(write.query)


def test_every_query_that_inserts_from_parameter_arrays_is_declared() -> None:
    """A new set-based write cannot escape the check by not being listed in `WRITES`."""
    declared = {w.query for w in WRITES}
    inserting = {
        name
        for name, sql in queries().items()
        if re.search(r"\bINSERT\b", sql, re.I) and re.search(r"\bunnest\s*\(\s*\$", sql, re.I)
    }
    assert len(inserting) >= 6
    assert sorted(inserting - declared) == []


def test_each_parameter_is_filled_from_the_field_its_column_names() -> None:
    """$1 is named last_name in the SQL: it gets last names, whatever the field order."""
    bound = bind(PEOPLE, GOOD)
    assert bound.columns == ("last_name", "first_name", "born")
    born = datetime(1815, 12, 10, tzinfo=UTC)
    people = [Person("Ada", "Lovelace", born), Person("Grace", "Hopper", born)]
    assert bound.arrays(people) == [["Lovelace", "Hopper"], ["Ada", "Grace"], [born, born]]
    assert bound.values(people[0]) == ("Lovelace", "Ada", born)


def test_reordering_a_rows_fields_changes_no_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adversary: first_name and last_name swapped in UserRow's declaration."""
    before = bind(rows.USERS, query("save_users"))
    order = list(UserRow.__dataclass_fields__)
    i, j = order.index("first_name"), order.index("last_name")
    order[i], order[j] = order[j], order[i]
    swapped = {name: UserRow.__dataclass_fields__[name] for name in order}
    monkeypatch.setattr(UserRow, "__dataclass_fields__", swapped)
    monkeypatch.setattr(UserRow, "__slots__", tuple(order))
    assert [f.name for f in fields(UserRow)][i] == "last_name"

    after = bind(rows.USERS, query("save_users"))
    assert after.columns == before.columns
    at = datetime(2026, 1, 1, tzinfo=UTC)
    user = UserRow(
        id="u1", provider="workos", directory_id="d1", organization_id=None, idp_id="i1",
        email=None, first_name="Ada", last_name="Lovelace", state="active",
        custom_attributes={}, created_at=at, updated_at=at, deleted_at=None,
    )  # fmt: skip
    arrays = after.arrays([user])
    for parameter in statement(query("save_users")).parameters:
        assert arrays[parameter.number - 1] == [getattr(user, parameter.column)]
    named = {p.column: p.number for p in statement(query("save_users")).parameters}
    assert arrays[named["first_name"] - 1] == ["Ada"]


@pytest.mark.parametrize(
    ("sql", "complaint"),
    [
        (GOOD.replace(", $3::timestamptz[]", "").replace(", born)", ")"), "fields ['born']"),
        (GOOD.replace("AS t (first_name", "AS t (given_name"), "columns ['given_name']"),
        (GOOD.replace("$3::timestamptz[]", "$3::text[]"), "born holds datetime, bound as text"),
        (GOOD.replace("$2::text[]", "$2::jsonb[]"), "first_name holds str, bound as jsonb"),
        (GOOD.replace("AS p (first_name, last_name", "AS p (last_name, first_name"), "INSERT"),
        (GOOD.replace("INTO people", "INTO persons"), "inserts into persons"),
    ],
    ids=["missing", "unknown", "type", "jsonb", "insert-order", "table"],
)
def test_a_query_that_disagrees_with_its_row_is_refused(sql: str, complaint: str) -> None:
    with pytest.raises(ColumnMismatch, match=re.escape(complaint)):
        bind(PEOPLE, sql)


@pytest.mark.parametrize(
    "sql",
    [
        # Positional: nothing names what $1 is.
        "INSERT INTO people SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])",
        # A parameter outside the named source.
        GOOD + " WHERE p.born < $4",
        # A parameter named twice.
        GOOD.replace("$3::timestamptz[]", "$1::timestamptz[]"),
        # An array where a single row (VALUES) binds one value, and an uncast parameter.
        "INSERT INTO people SELECT * FROM (VALUES ($1::text[], $2, $3)) AS t (a, b, c)",
        # Fewer names than parameters.
        GOOD.replace(", born)\n", ")\n"),
    ],
    ids=["positional", "outside", "twice", "values-shape", "count"],
)
def test_a_query_whose_parameters_are_not_all_named_is_refused(sql: str) -> None:
    with pytest.raises(ColumnMismatch):
        bind(PEOPLE, sql)


def test_a_single_row_write_names_its_values() -> None:
    sql = (
        "INSERT INTO people (last_name, first_name, born) SELECT * FROM "
        "(VALUES ($1::text, $2::text, $3::timestamptz)) AS t (last_name, first_name, born)"
    )
    born = datetime(1906, 12, 9, tzinfo=UTC)
    assert bind(PEOPLE, sql).values(Person("Grace", "Hopper", born)) == ("Hopper", "Grace", born)


def test_comments_and_quoted_columns_are_read_as_postgresql_reads_them() -> None:
    found = statement(
        '-- $9 (a comment) INSERT INTO nowhere (x)\nINSERT INTO t ("offset", Name) '
        'SELECT * FROM unnest($1::bigint[], $2::text[]) AS u ("offset", NAME)'
    )
    assert [(p.number, p.column, p.sql_type) for p in found.parameters] == [
        (1, "offset", "bigint"),
        (2, "name", "text"),
    ]
    assert (found.table, found.inserted) == ("t", ("offset", "name"))
