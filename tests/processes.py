"""`dsync` commands as real subprocesses, for tests of signals and of the JSON log lines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx

from dsync.embedded import free_port
from dsync.settings import Settings
from tests.support import SECRET, eventually

# A `make run` in the same checkout must not lend its settings (.dsync/dev/env) to the
# commands tests start; a test that wants a dev env file names it.
QUIET = {"DSYNC_DEV_ENV": ""}


@dataclass
class DsyncProcess:
    """A running `dsync <command>` whose stderr (its log) is drained as it comes, so a
    chatty process never blocks on a full pipe."""

    process: asyncio.subprocess.Process
    _stderr: bytearray = field(default_factory=bytearray)
    _reader: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self._reader = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._stderr += chunk

    async def terminate(self, within: float = 60.0) -> int:
        """SIGTERM, then the exit code. `within` only guards against a hang."""
        self.process.send_signal(signal.SIGTERM)
        return await self.exited(within)

    async def exited(self, within: float = 60.0) -> int:
        async with asyncio.timeout(within):
            code = await self.process.wait()
            if self._reader is not None:
                await self._reader
        return code

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()

    def log(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (anything else on stderr is kept for messages)."""
        return [json.loads(line) for line in self.text().splitlines() if line.startswith("{")]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.log() if line.get("event") == name]

    def text(self) -> str:
        return self._stderr.decode(errors="replace")


def worker_totals(worker: DsyncProcess) -> dict[str, int]:
    """The totals a stopped `dsync worker` logged with `worker.stopping`."""
    lines = worker.events("worker.stopping")
    assert lines, f"no worker.stopping line in:\n{worker.text()[-3000:]}"
    totals: dict[str, int] = lines[0]["totals"]
    return totals


async def start_dsync(command: str, env: dict[str, str]) -> DsyncProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dsync",
        command,
        env={**os.environ, **QUIET, "DSYNC_LOG_FORMAT": "json", "DSYNC_LOG_LEVEL": "info", **env},
        stderr=asyncio.subprocess.PIPE,
    )
    return DsyncProcess(process)


def worker_env(settings: Settings, *, max_batch: int = 1000) -> dict[str, str]:
    return {
        "DSYNC_DATABASE_URL": settings.require_database_url(),
        "DSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.require_bootstrap_servers(),
        "DSYNC_EVENTS_TOPIC": settings.events_topic,
        "DSYNC_WORKER_GROUP_ID": settings.worker_group_id,
        "DSYNC_WORKER_MAX_BATCH": str(max_batch),
        "DSYNC_WORKER_ADMIN_PORT": "0",
    }


@dataclass(frozen=True)
class Listening:
    """A `dsync` HTTP server (ingress or SCIM) running as its own process."""

    running: DsyncProcess
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


async def start_ingress(bootstrap: str, topic: str, **env: str) -> Listening:
    """`dsync ingress` on a free loopback port, once it answers /healthz. `env` adds
    DSYNC_<NAME> settings."""
    port = free_port()
    running = await start_dsync(
        "ingress",
        {
            "DSYNC_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DSYNC_EVENTS_TOPIC": topic,
            "DSYNC_WORKOS_WEBHOOK_SECRETS": SECRET,
            "DSYNC_INGRESS_HOST": "127.0.0.1",
            "DSYNC_INGRESS_PORT": str(port),
            **{f"DSYNC_{name.upper()}": value for name, value in env.items()},
        },
    )
    ingress = Listening(running, "127.0.0.1", port)
    await _until_answers(ingress, "/healthz", "dsync ingress")
    return ingress


async def start_scim(settings: Settings, **env: str) -> Listening:
    """`dsync scim` on a free loopback port against `settings`' database, broker and events
    topic, once it answers /readyz (it could apply a write). `env` adds DSYNC_<NAME>
    settings."""
    port = free_port()
    running = await start_dsync(
        "scim",
        {
            "DSYNC_DATABASE_URL": settings.require_database_url(),
            "DSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.require_bootstrap_servers(),
            "DSYNC_EVENTS_TOPIC": settings.events_topic,
            "DSYNC_SCIM_HOST": "127.0.0.1",
            "DSYNC_SCIM_PORT": str(port),
            **{f"DSYNC_{name.upper()}": value for name, value in env.items()},
        },
    )
    scim = Listening(running, "127.0.0.1", port)
    await _until_answers(scim, "/readyz", "dsync scim")
    return scim


async def _until_answers(server: Listening, path: str, name: str) -> None:
    """Wait for 200 on `path`; kill the process and fail with its log if it exits first."""

    async def status() -> int | None:
        if server.running.process.returncode is not None:
            raise AssertionError(f"{name} exited:\n{server.running.text()[-3000:]}")
        try:
            async with httpx.AsyncClient(base_url=server.url) as client:
                return (await client.get(path)).status_code
        except httpx.TransportError:
            return None

    try:
        await eventually(status, lambda code: code == 200, within=30)
    except BaseException:
        server.running.kill()
        raise


async def run_dsync(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`dsync <args>` to completion in its own process: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dsync",
        *args,
        env={**os.environ, **QUIET, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
