"""Stops the embedded servers of a `dsync dev` that died without stopping them (SIGKILL,
a crash). PostgreSQL started with pg_ctl does not notice that its starter died, and the
broker runs in a session of its own, so without this they would run on forever.

`dsync dev` starts `python -m dsync.watchdog` in a session of its own (a terminal's
Ctrl-C must not reach it) with a pipe on stdin, and tells it each server as it starts:
`broker <process group>` or `postgres <data directory>`. When dev stops the servers
itself it writes `release` and the watchdog exits; when the pipe closes without it (dev
died), the watchdog stops every server it was told about, then exits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO

from dsync.embedded import stop_group, stop_postmaster

RELEASE = "release"


class Watchdog:
    """The dev side: one watchdog process per `dsync dev`."""

    def __init__(self, log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "dsync.watchdog"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        assert self._process.stdin is not None
        self._pipe: IO[bytes] = self._process.stdin

    def watch_broker(self, pgid: int) -> None:
        self._tell(f"broker {pgid}")

    def watch_postgres(self, data_dir: Path) -> None:
        self._tell(f"postgres {data_dir.resolve()}")

    def release(self, timeout: float = 5.0) -> None:
        """The servers are stopped: let the watchdog exit, and wait for it (nothing
        `dsync dev` started may outlive it)."""
        try:
            self._tell(RELEASE)
            self._pipe.close()
        except OSError:
            pass  # it is gone already
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _tell(self, line: str) -> None:
        self._pipe.write(line.encode() + b"\n")
        self._pipe.flush()


def main() -> None:
    brokers: list[int] = []
    data_dirs: list[Path] = []
    for raw in sys.stdin:
        kind, _, target = raw.strip().partition(" ")
        if kind == RELEASE:
            return
        if kind == "broker":
            brokers.append(int(target))
        elif kind == "postgres":
            data_dirs.append(Path(target))
    # The pipe closed without a release: dsync dev is gone. Broker first, as dev does.
    for pgid in brokers:
        stop_group(pgid, grace=3.0)
    for data_dir in data_dirs:
        stop_postmaster(data_dir, grace=5.0)


if __name__ == "__main__":
    main()
