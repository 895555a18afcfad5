"""What every provider stand-in shares: a real HTTP server (uvicorn on 127.0.0.1, a free
port, in a thread of its own so a test's blocked event loop or a subprocess can still reach
it), a script of faults, and counters of what was asked and answered."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour, used once by the next request whose path starts with
    `path` (every path when empty). `status` answers that status (with `retry_after` as the
    Retry-After header when given); `drop` starts an answer and hangs up halfway through,
    so the client sees a connection lost mid-response."""

    status: int = 503
    retry_after: str | None = None
    drop: bool = False
    path: str = ""
    body: bytes | None = None  # served raw with `status` instead of the JSON error


class Gate:
    """Holds every request to `path` until the test opens it: a client stopped mid-way at a
    known request, without timing. `arrivals` counts the requests held so far."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.opened = threading.Event()
        self._arrived = threading.Condition()
        self.arrivals = 0

    async def passing(self, path: str) -> None:
        if path != self.path or self.opened.is_set():
            return
        with self._arrived:
            self.arrivals += 1
            self._arrived.notify_all()
        await asyncio.to_thread(self.opened.wait)

    def wait_for(self, arrivals: int, timeout: float = 30.0) -> bool:
        """Whether `arrivals` requests are being held (False after `timeout` seconds)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self.arrivals >= arrivals, timeout)


@dataclass
class Traffic:
    """Counters a test asserts on. Guarded by the stand-in's lock."""

    by_path: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    times: list[float] = field(default_factory=list)  # monotonic time of each request
    queries: list[tuple[str, str]] = field(default_factory=list)  # (path, query string)
    dropped: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_path.values())


class FaultScript:
    """A queue of faults, consumed in order by matching requests; thread safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._queue.extend(faults)

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._queue):
                if path.startswith(fault.path):
                    return self._queue.pop(index)
        return None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)


async def send_json(send: Send, status: int, document: Any, headers: dict[str, str]) -> None:
    body = json.dumps(document, separators=(",", ":")).encode()
    pairs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    pairs += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": body})


async def send_raw(send: Send, status: int, body: bytes) -> None:
    pairs = [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": body})


class DroppedConnection(Exception):
    """Raised inside the app after half an answer: uvicorn then closes the connection."""


async def send_dropped(send: Send) -> None:
    """Promise 1000 bytes, send 10, hang up."""
    pairs = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
    await send({"type": "http.response.start", "status": 200, "headers": pairs})
    await send({"type": "http.response.body", "body": b'{"object":', "more_body": True})
    raise DroppedConnection


class FaultingApp:
    """Wraps a stand-in's ASGI app: counts each request, then plays the next matching
    fault instead of the app. `record` is called with (path, status) under the lock."""

    def __init__(self, app: ASGIApp, faults: FaultScript, traffic: Traffic, lock: Any) -> None:
        self._app = app
        self._faults = faults
        self._traffic = traffic
        self._lock = lock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        with self._lock:
            self._traffic.by_path[path] += 1
            self._traffic.times.append(time.monotonic())
            self._traffic.queries.append((path, scope["query_string"].decode()))
        fault = self._faults.take(path)
        if fault is None:
            await self._app(scope, receive, self._counting(send))
        elif fault.drop:
            with self._lock:
                self._traffic.dropped += 1
            await send_dropped(send)
        elif fault.body is not None:
            await send_raw(self._counting(send), fault.status, fault.body)
        else:
            headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
            body = "Ratelimited" if fault.status == 429 else {"message": "stand-in fault"}
            await send_json(self._counting(send), fault.status, body, headers)

    def _counting(self, send: Send) -> Send:
        async def counted(message: Any) -> None:
            if message["type"] == "http.response.start":
                with self._lock:
                    self._traffic.by_status[message["status"]] += 1
            await send(message)

        return counted


@contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """Run `app` on 127.0.0.1:<free port> until the block ends; yields the base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="critical", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("stand-in server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class StandIn:
    """What every provider stand-in is over HTTP: its fault script, its traffic counters,
    and `served()`, which puts `_serve` behind them on a port of its own."""

    def __init__(self) -> None:
        self.faults = FaultScript()
        self.traffic = Traffic()
        self.url = ""
        self._app = FaultingApp(self._serve, self.faults, self.traffic, threading.Lock())

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

    @contextmanager
    def served(self) -> Iterator[Self]:
        """Serve until the block ends; `url` is the base URL meanwhile."""
        with serve_in_thread(self._app) as url:
            self.url = url
            yield self


Clock = Callable[[], float]
