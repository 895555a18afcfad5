"""The processes a benchmark runs against: the real `dsync ingress` and `dsync worker`,
the bare baseline server, and the load generator, each a separate OS process on loopback.
Their logs go to files in the run's work directory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.loadgen import SECRET_ENV
from dsync.embedded import free_port

SECRET = "whsec_bench_0123456789"  # noqa: S105 - signs loopback benchmark traffic only
WEBHOOK_PATH = "/webhooks/workos"
STOP_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class Context:
    """What every figure runs against: the embedded servers and a scratch directory."""

    admin_url: str  # PostgreSQL, user postgres
    bootstrap: str  # the broker
    workdir: Path
    postgres_pid: int  # the postmaster, for CPU accounting (bench/cpu.py)
    broker_pid: int


def child_env(**dsync: str) -> dict[str, str]:
    """This process's environment without inherited DSYNC_* (a developer's settings must
    not leak into a measurement), plus the given settings as DSYNC_<NAME>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSYNC_")}
    env.update({f"DSYNC_{name.upper()}": value for name, value in dsync.items()})
    env[SECRET_ENV] = SECRET
    return env


@asynccontextmanager
async def process(
    args: list[str], env: dict[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process, stopped with SIGTERM (then SIGKILL) on the way out."""
    with log.open("ab") as output:
        child = await asyncio.create_subprocess_exec(
            sys.executable, *args, env=env, stdout=output, stderr=output
        )
        try:
            yield child
        finally:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(child.wait(), STOP_TIMEOUT)
                except TimeoutError:
                    child.kill()
                    await child.wait()


async def until_ready(url: str, child: asyncio.subprocess.Process, log: Path) -> None:
    async with httpx.AsyncClient(timeout=2.0) as client:
        async with asyncio.timeout(30):
            while True:
                if child.returncode is not None:
                    raise RuntimeError(f"{url} exited ({child.returncode}); see {log}")
                try:
                    if (await client.get(url)).status_code < 500:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)


@dataclass(frozen=True, slots=True)
class Server:
    url: str  # the webhook endpoint
    pid: int


@asynccontextmanager
async def ingress(bootstrap: str, topic: str, workdir: Path) -> AsyncIterator[Server]:
    """`dsync ingress` with its production defaults (log level info, JSON logs); yields the
    webhook URL once /readyz says the broker answers."""
    port = free_port()
    env = child_env(
        kafka_bootstrap_servers=bootstrap,
        events_topic=topic,
        workos_webhook_secrets=SECRET,
        ingress_port=str(port),
    )
    log = workdir / f"ingress-{topic}.log"
    async with process(["-m", "dsync", "ingress"], env, log) as child:
        base = f"http://127.0.0.1:{port}"
        await until_ready(f"{base}/readyz", child, log)
        yield Server(base + WEBHOOK_PATH, child.pid)


@asynccontextmanager
async def bare(workdir: Path) -> AsyncIterator[Server]:
    """B1's baseline server (bench/bare.py); yields its webhook URL."""
    port = free_port()
    log = workdir / "bare.log"
    async with process(["-m", "bench.bare", "--port", str(port)], child_env(), log) as child:
        base = f"http://127.0.0.1:{port}"
        await until_ready(f"{base}/", child, log)  # 404 means it is up
        yield Server(base + WEBHOOK_PATH, child.pid)


@asynccontextmanager
async def worker(
    database: str, bootstrap: str, topic: str, workdir: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """One `dsync worker` in its own consumer group for `topic` (B3, B4, B6)."""
    async with workers(database, bootstrap, topic, workdir, 1) as children:
        yield children[0]


@asynccontextmanager
async def workers(
    database: str, bootstrap: str, topic: str, workdir: Path, count: int
) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """`count` `dsync worker` processes in one consumer group of their own for `topic`
    (the deployment runs several), without admin ports; each logs to its own file."""
    env = child_env(
        database_url=database,
        kafka_bootstrap_servers=bootstrap,
        events_topic=topic,
        worker_group_id=f"bench-{topic}-{count}",
        worker_admin_port="0",
    )
    async with contextlib.AsyncExitStack() as stack:
        children = [
            await stack.enter_async_context(
                process(["-m", "dsync", "worker"], env, workdir / f"worker-{topic}-{count}-{n}.log")
            )
            for n in range(count)
        ]
        yield children


class PeakRss:
    """Samples the resident set size of each process every 10 ms until stopped; the
    peak is that of the largest single process (each worker is its own process)."""

    def __init__(self, *pids: int) -> None:
        self._processes = [psutil.Process(pid) for pid in pids]
        self.peak = 0
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            for process in self._processes:
                self.peak = max(self.peak, int(process.memory_info().rss))
            await asyncio.sleep(0.01)

    async def stop(self) -> int:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return self.peak


@dataclass(frozen=True, slots=True)
class Load:
    """Arguments of one load generator run (see bench/loadgen.py)."""

    connections: int = 32
    duration: float | None = None
    count: int | None = None
    rate: float | None = None
    cycle: bool = False
    record: bool = False

    def argv(self) -> list[str]:
        args = ["--connections", str(self.connections)]
        for name in ("duration", "count", "rate"):
            value = getattr(self, name)
            if value is not None:
                args += [f"--{name}", str(value)]
        return args + (["--cycle"] if self.cycle else [])


async def loadgen(
    url: str, bodies: Path, load: Load, workdir: Path
) -> tuple[dict[str, Any], list[list[Any]]]:
    """Run the load generator to completion; its summary and (with `record`) its rows."""
    record = workdir / f"record-{os.getpid()}-{id(load)}.json"
    args = ["-m", "bench.loadgen", "--url", url, "--bodies", str(bodies), *load.argv()]
    if load.record:
        args += ["--record", str(record)]
    child = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=child_env(), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"load generator failed with status {child.returncode}")
    summary: dict[str, Any] = json.loads(out)
    rows: list[list[Any]] = json.loads(record.read_text()) if load.record else []
    return summary, rows
