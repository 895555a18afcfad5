"""B6: deprovisioning latency through the real ingress, broker and worker. Accounts with a
session, an API key and a device token each are provisioned first; then their
`dsync.user.deleted` webhooks are sent at a steady rate, and each person's latency runs
from the moment the webhook was due (open loop) to the commit of the transaction that
deactivated the account and revoked its credentials (PostgreSQL commit timestamps)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from bench.database import wait_consumed
from bench.loadgen import percentile
from bench.pipeline import pipeline
from bench.report import Figure
from bench.services import Context, Load, loadgen
from bench.streams import body_lines

DRAIN_TIMEOUT = 120.0


def people(count: int, *, directories: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "id": f"directory_user_b6_{n}",
            "directory_id": f"directory_b6_{n % directories}",
            "organization_id": f"org_b6_{n % directories}",
            "idp_id": f"idp-b6-{n}",
            "email": f"b6-{n}@example.com",
            "first_name": "Bench",
            "last_name": f"Person {n}",
            "state": "active",
            "custom_attributes": {},
            "created_at": "2023-11-14T22:13:20Z",
            "updated_at": "2023-11-14T22:13:21Z",
        }
        for n in range(count)
    ]


def _event(kind: str, user: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"event_b6_{kind}_{user['id']}",
        "event": f"dsync.user.{kind}",
        "data": user,
        "created_at": "2023-11-14T22:20:00Z" if kind == "deleted" else "2023-11-14T22:13:22Z",
    }


async def deprovision_figures(ctx: Context, count: int, rate: float) -> list[Figure]:
    users = people(count)
    created, deleted = ctx.workdir / "b6-created.jsonl", ctx.workdir / "b6-deleted.jsonl"
    created.write_bytes(body_lines([_event("created", u) for u in users]))
    deleted.write_bytes(body_lines([_event("deleted", u) for u in users]))
    async with pipeline(ctx, "b6") as running:
        await loadgen(running.ingress.url, created, Load(connections=8, count=count), ctx.workdir)
        await wait_consumed(running.database, running.records_before + count, DRAIN_TIMEOUT)
        await _issue_credentials(running.database)
        load = Load(connections=8, rate=rate, duration=count / rate, record=True)
        _, rows = await loadgen(running.ingress.url, deleted, load, ctx.workdir)
        accepted = [row for row in rows if str(row[3]).startswith("2")]
        sent = {users[row[0]]["id"]: row[1] for row in accepted}
        await wait_consumed(
            running.database, running.records_before + count + len(accepted), DRAIN_TIMEOUT
        )
        revoked = await _revocation_commits(running.database)
    latencies = sorted((revoked[user].timestamp() - at) * 1000 for user, at in sent.items())
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return [
        Figure(
            "B6",
            f"deprovision: webhook sent -> account deactivated and its session, API key and "
            f"device token revoked (committed), {len(sent):,} people at {rate:g}/s",
            round(p99, 1),
            "ms p99",
            "none (absolute)",
            None,
            None,
            "p99 <= 1 s",
            met=p99 <= 1000,
            detail=f"p50 {p50:.1f} ms, max {latencies[-1]:.1f} ms",
            numbers={"p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "people": len(sent)},
        )
    ]


async def _issue_credentials(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        for table in ("sessions", "api_keys", "device_tokens"):
            await conn.execute(
                f"INSERT INTO dsync.{table} (account_id) SELECT id FROM dsync.accounts"
                " WHERE organization_id LIKE 'org_b6_%'"
            )
    finally:
        await conn.close()


async def _revocation_commits(database: str) -> dict[str, datetime]:
    """Per directory user: when the last of its account's writes (deactivation and every
    revocation) committed. Fails if anything is still live."""
    conn = await asyncpg.connect(database)
    try:
        live = await conn.fetchval(
            "SELECT count(*) FROM dsync.accounts a WHERE a.organization_id LIKE 'org_b6_%'"
            " AND (a.status = 'active' OR EXISTS (SELECT 1 FROM dsync.sessions s"
            " WHERE s.account_id = a.id AND s.revoked_at IS NULL))"
        )
        if live:
            raise RuntimeError(f"{live} accounts still active or holding a live session")
        rows = await conn.fetch(
            """
            SELECT a.directory_user_id, greatest(
                pg_xact_commit_timestamp(a.xmin),
                (SELECT max(pg_xact_commit_timestamp(s.xmin)) FROM dsync.sessions s
                 WHERE s.account_id = a.id),
                (SELECT max(pg_xact_commit_timestamp(k.xmin)) FROM dsync.api_keys k
                 WHERE k.account_id = a.id),
                (SELECT max(pg_xact_commit_timestamp(d.xmin)) FROM dsync.device_tokens d
                 WHERE d.account_id = a.id)) AS done
            FROM dsync.accounts a WHERE a.organization_id LIKE 'org_b6_%'
            """
        )
        return {row["directory_user_id"]: row["done"] for row in rows}
    finally:
        await conn.close()
