"""uvicorn inside a process that owns its own signals (`dsync dev`, the worker's admin
port, tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling, for running inside a process that owns
    SIGINT/SIGTERM (`dsync dev`, tests): stop it with `should_exit = True`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
