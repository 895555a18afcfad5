"""uvicorn hosted by a process that owns its signals: the production ingress, the worker's
admin port, `dsync dev`, tests. (Not dsync/embedded.py, the servers `dsync dev` embeds.)"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class HostedServer(uvicorn.Server):
    """uvicorn without its own signal handling, hosted by a process that owns SIGINT and
    SIGTERM (`dsync ingress` maps them to `handle_exit`, so a drained shutdown exits 0;
    `dsync dev` and tests set `should_exit = True`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
