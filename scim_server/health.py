"""`GET /healthz` and `GET /readyz` of the SCIM server.

Liveness is the process answering. Readiness is what a write needs: PostgreSQL answers
(the token check, the reads and the commit wait use it) and the broker can store an event
on the events topic (never created by the probe). A pod that is not ready leaves the
Service, so the IdP's requests go to one that can apply them instead of waiting for the
commit-wait deadline and a 503.

Each probe costs one `SELECT 1` and one metadata request: the kubelet probes every few
seconds, and the SCIM Service is not public to scanners (its Ingress routes /scim only).
"""

from __future__ import annotations

import asyncio
from typing import Literal

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dsync.producer import KafkaProducer, Producer

ScimReadiness = Literal["ready", "database_unavailable", "broker_unavailable", "topic_unavailable"]


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readiness(
    pool: asyncpg.Pool, producer: Producer, topic: str, bound_seconds: float
) -> ScimReadiness:
    """Whether a SCIM write could be applied now. Bounded by `bound_seconds` per dependency."""
    try:
        async with asyncio.timeout(bound_seconds):
            await pool.fetchval("SELECT 1")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return "database_unavailable"
    if isinstance(producer, KafkaProducer):  # a test's injected producer has no broker
        return await producer.readiness([topic])
    return "ready"


def readiness_response(state: ScimReadiness) -> Response:
    return JSONResponse({"status": state}, status_code=200 if state == "ready" else 503)
