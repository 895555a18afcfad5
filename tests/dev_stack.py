"""`dsync dev` as a real process in a session of its own (as a terminal runs `make run`), and
every process it started, so tests can signal the whole group and look for survivors."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from dsync.embedded import free_port

BANNER = b"dsync is running"
# Every variable the `env` file of `dsync dev` promises to the other commands (and to
# README's examples, which tests/integration/test_readme.py runs with a file like it).
ENV_FILE_NAMES = (
    "DSYNC_DATABASE_URL",
    "DSYNC_KAFKA_BOOTSTRAP_SERVERS",
    "DSYNC_WORKOS_WEBHOOK_SECRETS",
    "DSYNC_STYTCH_WEBHOOK_SECRETS",
    "DSYNC_POLIS_WEBHOOK_SECRETS",
    "DSYNC_INGRESS_HOST",
    "DSYNC_INGRESS_PORT",
    "DSYNC_WORKER_GROUP_ID",
    "DSYNC_WORKER_ADMIN_PORT",
)


@dataclass
class DevStack:
    """A running `dsync dev --workdir <workdir>`; stdout and stderr drained as they come."""

    process: asyncio.subprocess.Process
    workdir: Path
    ingress_port: int
    admin_port: int
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    started_at: float = field(default_factory=time.monotonic)
    banner_at: float | None = None  # time.monotonic() when the banner line arrived
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            asyncio.create_task(self._drain(self.process.stdout, self.stdout, banner=True)),
            asyncio.create_task(self._drain(self.process.stderr, self.stderr, banner=False)),
        ]

    async def _drain(self, stream: asyncio.StreamReader, into: bytearray, *, banner: bool) -> None:
        while line := await stream.readline():
            into += line
            if banner and self.banner_at is None and BANNER in line:
                self.banner_at = time.monotonic()

    @property
    def env_file(self) -> Path:
        return self.workdir / "env"

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    def text(self) -> str:
        return (self.stdout + b"\n--- stderr ---\n" + self.stderr).decode(errors="replace")

    async def banner(self, within: float = 180.0) -> float:
        """Wait for the banner; the moment it came (time.monotonic())."""
        deadline = time.monotonic() + within
        while self.banner_at is None:
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"no banner (exit {self.process.returncode}):\n{self.text()}")
            await asyncio.sleep(0.01)
        return self.banner_at

    def processes(self) -> set[psutil.Process]:
        """dsync dev, everything below it, and the embedded PostgreSQL's postmaster (which
        pg_ctl detaches) with its children. psutil.Process compares by pid and start time,
        so a recycled pid never counts as a survivor."""
        found: set[psutil.Process] = set()
        with suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.process.pid)
            found |= {root, *root.children(recursive=True)}
        postmaster = self.postmaster()
        if postmaster is not None:
            with suppress(psutil.NoSuchProcess):
                found |= {postmaster, *postmaster.children(recursive=True)}
        return found

    def postmaster(self) -> psutil.Process | None:
        pid_file = self.workdir / "postgres" / "postmaster.pid"
        try:
            process = psutil.Process(int(pid_file.read_text().split("\n", 1)[0]))
        except (OSError, ValueError, psutil.NoSuchProcess):
            return None
        # A stale pid file may name a recycled pid: only a postmaster of this data directory.
        return process if str(self.workdir) in _cmdline(process) else None

    def broker(self) -> psutil.Process:
        [broker] = [p for p in self.processes() if _name(p).startswith("tansu")]
        return broker

    @property
    def pid(self) -> int:
        return self.process.pid

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole process group, as a terminal sends it."""
        os.killpg(self.process.pid, signal.SIGINT)

    async def exited(self, within: float) -> int:
        async with asyncio.timeout(within):
            code = await self.process.wait()
            await asyncio.gather(*self._readers)
        return code


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _name(process: psutil.Process) -> str:
    try:
        return str(process.name())
    except psutil.Error:
        return ""


def alive(processes: set[psutil.Process]) -> list[str]:
    """The ones still running (zombies are dead: only their parent has not reaped them)."""
    survivors = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                survivors.append(f"{process.pid} {_cmdline(process)}")
    return survivors


async def none_alive(processes: set[psutil.Process], within: float) -> list[str]:
    deadline = time.monotonic() + within
    while (survivors := alive(processes)) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return survivors


def group_members(pgid: int) -> list[str]:
    """The live processes of a process group (zombies are dead: they only wait for
    their new parent, init, to reap them)."""
    members = set()
    for pid in psutil.pids():
        with suppress(OSError, psutil.Error):
            if os.getpgid(pid) == pgid:
                members.add(psutil.Process(pid))
    return alive(members)


def dev_environment(**settings: str) -> dict[str, str]:
    """The caller's environment without any DSYNC_* setting (dsync dev must start its
    own servers), plus `settings` (DSYNC_<NAME>)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSYNC_")}
    env.update({"DSYNC_LOG_FORMAT": "json", "DSYNC_LOG_LEVEL": "info"})
    env.update({f"DSYNC_{name.upper()}": value for name, value in settings.items()})
    return env


@asynccontextmanager
async def dev_stack(tmp_path: Path, **settings: str) -> AsyncIterator[DevStack]:
    """Start `dsync dev` in its own session; on the way out, kill whatever is left (the
    test has already asserted what it wanted about survivors)."""
    ingress_port, admin_port = free_port(), free_port()
    # Not under pytest's basetemp: the embedded PostgreSQL runs as another system user who
    # must traverse the path, and every pytest session that starts on the machine resets
    # `pytest-of-<user>` to mode 0700 (conftest's service_dir does the same, for the same reason).
    scratch = Path(tempfile.mkdtemp(prefix="dsync-dev-test-"))
    workdir = scratch / "dev"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dsync",
        "dev",
        "--workdir",
        str(workdir),
        env=dev_environment(
            ingress_port=str(ingress_port),
            worker_admin_port=str(admin_port),
            **{"scim_port": str(free_port()), **settings},
        ),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    stack = DevStack(process, workdir, ingress_port, admin_port)
    seen: set[psutil.Process] = set()
    try:
        yield stack
    finally:
        seen = stack.processes()
        for survivor in seen:
            with suppress(psutil.Error):
                survivor.kill()
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with suppress(TimeoutError):
            await stack.exited(10)
        # The data, not the directory: a test may still look at the env file afterwards.
        shutil.rmtree(workdir / "postgres", ignore_errors=True)


def sourced(env_file: Path) -> dict[str, str]:
    """The DSYNC_* variables a POSIX shell has after `. <env_file>`."""
    out = subprocess.run(
        ["sh", "-c", '. "$0" && env -0', str(env_file)],
        check=True,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    ).stdout.decode()
    pairs = (entry.partition("=") for entry in out.split("\0") if entry)
    return {name: value for name, _, value in pairs if name.startswith("DSYNC_")}
