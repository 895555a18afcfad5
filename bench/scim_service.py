"""The SCIM path as separate OS processes on loopback: a real `dsync scim` beside a real
`dsync worker`, on a fresh database and topic, and a directory connected through
`dsync scim connect` (what an operator runs). Used by B10 and by the conformance run."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from bench.database import fresh_database, wait_consumed
from bench.services import Context, child_env, process, until_ready, worker
from dsync.embedded import free_port
from dsync.topics import ensure_topics

JOIN_TIMEOUT = 60.0
# Generous: the machine is shared, and a 503 here would fail a conformance check that is
# about the protocol, not about speed (B10 measures speed).
COMMIT_TIMEOUT = "30"


@dataclass(frozen=True, slots=True)
class ScimDirectory:
    directory_id: str
    base_url: str  # .../scim/v2/directories/{directory_id}
    token: str


@dataclass(frozen=True, slots=True)
class ScimPipeline:
    database: str
    root: str  # http://127.0.0.1:port
    scim_pid: int
    worker_pid: int
    directory: ScimDirectory


def _settings(database: str, bootstrap: str, topic: str, port: int) -> dict[str, str]:
    return {
        "database_url": database,
        "kafka_bootstrap_servers": bootstrap,
        "events_topic": topic,
        "scim_port": str(port),
        "scim_commit_timeout_seconds": COMMIT_TIMEOUT,
    }


async def connect_directory(settings: dict[str, str], organization: str) -> ScimDirectory:
    """`dsync scim connect --organization ORG`: the directory, its base URL and token."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "dsync", "scim", "connect", "--organization", organization),
        env=child_env(**settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"dsync scim connect failed: {err.decode(errors='replace')}")
    printed = json.loads(out)
    return ScimDirectory(printed["directory_id"], printed["base_url"], printed["token"])


@asynccontextmanager
async def scim_pipeline(ctx: Context, name: str) -> AsyncIterator[ScimPipeline]:
    """`dsync scim` and `dsync worker` on database bench_<name> and topic bench.<name>,
    with one connected directory; yields once the worker has applied a first SCIM write
    (its group joined), so nothing measured waits for a join."""
    database = await fresh_database(ctx.admin_url, f"bench_{name}")
    topic = f"bench.{name}"
    await ensure_topics(ctx.bootstrap, {topic: 6})
    port = free_port()
    settings = _settings(database, ctx.bootstrap, topic, port)
    log = ctx.workdir / f"scim-{topic}.log"
    async with (
        worker(database, ctx.bootstrap, topic, ctx.workdir) as child,
        process(["-m", "dsync", "scim"], child_env(**settings), log) as scim,
    ):
        root = f"http://127.0.0.1:{port}"
        await until_ready(f"{root}/", scim, log)  # any answer below 500: it listens
        directory = await connect_directory(settings, f"org_{name}")
        await _warm_up(directory, database)
        yield ScimPipeline(database, root, scim.pid, child.pid, directory)


async def _warm_up(directory: ScimDirectory, database: str) -> None:
    """One user created (then deleted), so the worker has joined its group."""
    headers = {"Authorization": f"Bearer {directory.token}"}
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "warmup@bench.test",
    }
    async with httpx.AsyncClient(base_url=directory.base_url, headers=headers) as client:
        # The commit deadline (COMMIT_TIMEOUT) covers the worker's group join.
        created = await client.post("/Users", json=body, timeout=JOIN_TIMEOUT)
        if created.status_code != 201:
            raise RuntimeError(f"the warm-up user was answered {created.status_code}")
        await client.delete(f"/Users/{created.json()['id']}", timeout=40)
    await wait_consumed(database, 2, JOIN_TIMEOUT)
