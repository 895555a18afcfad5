"""The declared rows against a migrated database: each field is a column of its table, of
the type its query binds it as; and a row whose fields are reordered still writes each
value to the column of its name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, get_type_hints

import asyncpg
import pytest

from sql import query
from worker import repository as repo
from worker.columns import COMPATIBLE, python_type, statement
from worker.rows import WRITES, AppliedEvent, MembershipRow, UserRow, Write
from worker.store import Store, TxConn

# information_schema.columns.data_type of each type a write query casts to.
DATA_TYPES = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "float8": "double precision",
    "boolean": "boolean",
    "timestamptz": "timestamp with time zone",
    "bytea": "bytea",
    "jsonb": "jsonb",
}
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TABLE_WRITES = [w for w in WRITES if w.table is not None]


@pytest.mark.parametrize("write", TABLE_WRITES, ids=lambda w: w.query)
async def test_each_field_is_a_column_of_its_type(db: asyncpg.Connection, write: Write) -> None:
    assert write.table is not None
    schema, table = write.table.split(".")
    columns = {
        r["column_name"]: r
        for r in await db.fetch(
            """SELECT column_name, data_type, is_nullable, column_default, is_identity
               FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2""",
            schema,
            table,
        )
    }
    assert columns, f"{write.table} does not exist"
    hints = get_type_hints(write.row)
    found = statement(query(write.query))
    for parameter in found.parameters:
        column = columns.get(parameter.column)
        assert column is not None, f"{write.table} has no column {parameter.column}"
        kind, nullable = python_type(hints[parameter.column])
        assert column["data_type"] == DATA_TYPES[parameter.sql_type], parameter
        assert column["data_type"] in {DATA_TYPES[t] for t in COMPATIBLE[kind]}, parameter
        if nullable:
            assert column["is_nullable"] == "YES", f"{parameter.column} may be None"
    required = {
        name
        for name, c in columns.items()
        if c["is_nullable"] == "NO" and c["column_default"] is None and c["is_identity"] == "NO"
    }
    assert sorted(required - set(found.inserted)) == []
    assert {f.name for f in fields(write.row)} <= set(found.inserted)


def swap_fields(monkeypatch: pytest.MonkeyPatch, row: type[Any], a: str, b: str) -> None:
    """Reorder two fields of a row class in place, as an edit of its declaration would:
    its dataclass fields and its slots (the order positional code transposes by)."""
    order = list(row.__dataclass_fields__)
    i, j = order.index(a), order.index(b)
    order[i], order[j] = order[j], order[i]
    monkeypatch.setattr(
        row, "__dataclass_fields__", {n: row.__dataclass_fields__[n] for n in order}
    )
    monkeypatch.setattr(row, "__slots__", tuple(order))
    assert [f.name for f in fields(row)][i] == b


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[TxConn]:
    store = await Store.open(database_url, size=1)
    try:
        async with store.transaction() as conn:
            yield conn
    finally:
        await store.close()


async def test_reordered_user_fields_write_names_to_their_columns(
    conn: TxConn, monkeypatch: pytest.MonkeyPatch
) -> None:
    swap_fields(monkeypatch, UserRow, "first_name", "last_name")
    user = UserRow(
        id="user_1",
        provider="workos",
        directory_id="directory_1",
        organization_id="org_1",
        idp_id="idp_1",
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        state="active",
        custom_attributes={"department": "Engines"},
        created_at=AT,
        updated_at=AT,
        deleted_at=None,
    )
    await repo.save_users(conn, [user])
    row = await conn.fetchrow("SELECT first_name, last_name, email FROM dsync.users")
    assert row is not None
    assert dict(row) == {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


async def test_reordered_membership_fields_write_ids_to_their_columns(
    conn: TxConn, monkeypatch: pytest.MonkeyPatch
) -> None:
    swap_fields(monkeypatch, MembershipRow, "group_id", "user_id")
    membership = MembershipRow(
        provider="workos",
        directory_id="directory_1",
        group_id="group_1",
        user_id="user_1",
        present=True,
        event_at=AT,
    )
    await repo.save_memberships(conn, [membership])
    row = await conn.fetchrow("SELECT group_id, user_id FROM dsync_internal.memberships")
    assert row is not None
    assert dict(row) == {"group_id": "group_1", "user_id": "user_1"}


async def test_reordered_event_fields_write_each_to_its_column(
    conn: TxConn, monkeypatch: pytest.MonkeyPatch
) -> None:
    swap_fields(monkeypatch, AppliedEvent, "event_id", "event_type")
    swap_fields(monkeypatch, AppliedEvent, "received_at", "occurred_at")
    event = AppliedEvent(
        source="workos",
        event_id="event_1",
        event_type="dsync.user.created",
        directory_id="directory_1",
        outcome="applied",
        topic="events",
        partition=3,
        offset=41,
        received_at=AT,
        occurred_at=datetime(2026, 3, 1, 11, 59, tzinfo=UTC),
    )
    await repo.record_events(conn, [event])
    row = await conn.fetchrow(
        """SELECT event_id, event_type, received_at, occurred_at
           FROM dsync_internal.applied_events"""
    )
    assert row is not None
    assert dict(row) == {
        "event_id": "event_1",
        "event_type": "dsync.user.created",
        "received_at": AT,
        "occurred_at": datetime(2026, 3, 1, 11, 59, tzinfo=UTC),
    }
