"""`dsync audit verify`: check each organization's audit hash chain (the chain is written
by the trigger in sql/functions/02_access_audit.sql, which also recomputes a row's digest)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sql import query
from worker.access.admin import Conn


@dataclass(frozen=True, slots=True)
class ChainRow:
    seq: int
    prev_hash: str
    hash: str
    digest: str  # recomputed from the row's contents


@dataclass(frozen=True, slots=True)
class ChainReport:
    organization: str
    rows: int
    head: str | None
    problems: list[str]


GENESIS = "0" * 64


def check_chain(organization: str, rows: Sequence[ChainRow]) -> ChainReport:
    """Pure: every row's contents hash to its stored hash, each row names its predecessor's
    hash, and sequence numbers run 1..n without gaps."""
    problems: list[str] = []
    previous = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        if row.seq != expected_seq:
            problems.append(f"seq {row.seq}: expected seq {expected_seq} (a row is missing)")
        if row.prev_hash != previous:
            problems.append(f"seq {row.seq}: prev_hash does not match the previous row's hash")
        if row.digest != row.hash:
            problems.append(f"seq {row.seq}: contents do not match the stored hash (edited)")
        previous = row.hash
    return ChainReport(organization, len(rows), rows[-1].hash if rows else None, problems)


async def verify_audit(conn: Conn, organization: str | None) -> list[ChainReport]:
    if organization is None:
        organizations = [r[0] for r in await conn.fetch(query("audit_organizations"))]
    else:
        organizations = [organization]
    reports = []
    for org in organizations:
        rows = [ChainRow(**dict(r)) for r in await conn.fetch(query("audit_chain"), org)]
        reports.append(check_chain(org, rows))
    return reports
