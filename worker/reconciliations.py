"""The last reconciliation of each directory (`dsync reconcile` records its runs in
dsync_internal.reconcile_runs), for `dsync status`, `GET /diagnostics` and the alert on
drift found by two runs in a row; and the unfinished ones, running (their directory's lock
held: another `dsync reconcile` of it is skipped) or stopped (the next run resumes them).
Read-only; dry runs are not counted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from schemas.base import utc_text
from sql import query


@dataclass(frozen=True, slots=True)
class Reconciliation:
    provider: str
    directory_id: str
    run_id: str
    started_at: datetime
    finished_at: datetime
    drift: dict[str, int]  # kind -> objects found drifted
    repaired: dict[str, int]  # kind -> corrective events produced
    drifted: bool
    previous_drifted: bool | None  # None: no run before it

    @property
    def drifted_twice(self) -> bool:
        """Drift on two runs in a row: something keeps losing webhooks (the alert)."""
        return self.drifted and bool(self.previous_drifted)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "directory_id": self.directory_id,
            "run_id": self.run_id,
            "started_at": utc_text(self.started_at),
            "finished_at": utc_text(self.finished_at),
            "drift": self.drift,
            "repaired": self.repaired,
            "drift_on_two_runs_in_a_row": self.drifted_twice,
        }


async def last_reconciliations(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
) -> list[Reconciliation]:
    """Any connection set up like the pool's (jsonb as Python values)."""
    rows = await conn.fetch(query("reconcile_last_runs"))
    return [
        Reconciliation(
            provider=row["provider"],
            directory_id=row["directory_id"],
            run_id=row["run_id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            drift=dict(row["drift"]),
            repaired=dict(row["repaired"]),
            drifted=row["drifted"],
            previous_drifted=row["previous_drifted"],
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class UnfinishedReconciliation:
    provider: str
    directory_id: str
    run_id: str
    started_at: datetime
    phase: str
    running: bool  # a process holds the directory's lock (reconcile.exclusive)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "directory_id": self.directory_id,
            "run_id": self.run_id,
            "started_at": utc_text(self.started_at),
            "phase": self.phase,
            "running": self.running,
        }


async def unfinished_reconciliations(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
) -> list[UnfinishedReconciliation]:
    rows = await conn.fetch(query("reconcile_unfinished_runs"))
    return [UnfinishedReconciliation(**dict(row)) for row in rows]
