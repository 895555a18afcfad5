"""The whole path for B3 and B4: a real `dsync ingress` and `dsync worker` on a fresh
database and topic, warmed up (the worker has joined its group and applied one event)
before anything is measured."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from bench.cpu import Reader, postgres_seconds, process_seconds
from bench.database import fresh_database, wait_consumed
from bench.services import SECRET, Context, Server, ingress, worker
from bench.streams import steady_stream
from dsync.topics import ensure_topics
from webhook_ingress import workos

WARM_UP_DIRECTORY = "directory_warmup"
JOIN_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Pipeline:
    ingress: Server
    worker_pid: int
    database: str
    records_before: int  # warm-up records already consumed


def cpu_readers(ctx: Context, running: Pipeline) -> dict[str, Reader]:
    """The CPU time of every process on the path, by kind (bench/cpu.py)."""
    return {
        "ingress": process_seconds(running.ingress.pid),
        "worker": process_seconds(running.worker_pid),
        "PostgreSQL": postgres_seconds(ctx.postgres_pid),
        "broker": process_seconds(ctx.broker_pid),
    }


@asynccontextmanager
async def pipeline(ctx: Context, name: str) -> AsyncIterator[Pipeline]:
    database = await fresh_database(ctx.admin_url, f"bench_{name}")
    topic = f"bench.{name}"
    await ensure_topics(ctx.bootstrap, {topic: 6})
    async with (
        ingress(ctx.bootstrap, topic, ctx.workdir) as server,
        worker(database, ctx.bootstrap, topic, ctx.workdir) as child,
    ):
        await _warm_up(server.url)
        await wait_consumed(database, 1, JOIN_TIMEOUT)
        yield Pipeline(server, child.pid, database, 1)


async def _warm_up(url: str) -> None:
    """One event in a directory of its own, so the figures can leave it out."""
    event = steady_stream(1)[0]
    event["id"] = "event_warmup"
    event["data"]["id"] = "directory_user_warmup"
    event["data"]["directory_id"] = WARM_UP_DIRECTORY
    body = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        "WorkOS-Signature": workos.sign(SECRET, body, int(time.time() * 1000)),
    }
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.post(url, content=body, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"the warm-up webhook was answered {response.status_code}")
