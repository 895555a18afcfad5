"""A minimal HTTP/1.1 client for the load generator: keep-alive connections, each an
asyncio protocol, requests built as bytes. Enough for our two servers (Content-Length
answers), and much cheaper per request than a general client or asyncio streams, so the
generator is not what limits a run: it shares the machine's cores with the servers it
drives, and every CPU second it spends is theirs."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from webhook_ingress import workos

REQUEST_TIMEOUT = 30.0
# Status of requests that got no HTTP answer.
CONNECTION_ERROR = "connection_error"
TIMEOUT = "timeout"
MAX_HEAD = 16 * 1024  # an answer's head longer than this is not one of our servers'


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError("the URL must be http://host:port/path")
        return cls(parts.hostname, parts.port, parts.path or "/")


def request_bytes(target: Target, secret: str, body: bytes, now: float) -> bytes:
    """One HTTP/1.1 POST, signed at `now` as WorkOS would sign it."""
    signature = workos.sign(secret, body, int(now * 1000))
    head = (
        f"POST {target.path} HTTP/1.1\r\n"
        f"Host: {target.host}:{target.port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"WorkOS-Signature: {signature}\r\n\r\n"
    )
    return head.encode() + body


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    length: int  # of the body that follows
    keep: bool  # whether the server keeps the connection


def parse_head(head: bytes) -> Head:
    """An answer's status line and headers, up to and without the blank line. Raises
    ValueError for what these servers never send (chunked bodies, a malformed line)."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            raise ValueError("chunked answers are not expected from these servers")
        elif name == "connection" and value.strip().lower() == "close":
            keep = False
    return Head(status, length, keep)


class _Answers(asyncio.Protocol):
    """Reads the answers of one connection, one request in flight at a time: `expect`
    returns the future that gets the next answer's head once its body has arrived, or an
    exception if the connection fails first."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buffer = bytearray()
        self._head: Head | None = None
        self._waiter: asyncio.Future[Head] | None = None
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def expect(self) -> asyncio.Future[Head]:
        self._waiter = self._loop.create_future()
        return self._waiter

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except ValueError as exc:
            self.fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.fail(exc or ConnectionResetError("the server closed the connection"))

    def _parse(self) -> None:
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise ValueError("an answer's head without an end")
                return
            self._head = parse_head(bytes(self._buffer[:end]))
            del self._buffer[: end + 4]
        if len(self._buffer) < self._head.length:
            return
        head, self._head = self._head, None
        del self._buffer[: head.length]
        if self._waiter is None or self._buffer:
            raise ValueError("an answer nobody asked for")
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result(head)

    def fail(self, exc: Exception) -> None:
        """The request in flight gets `exc`, and the connection is dropped."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


class Connection:
    """One keep-alive connection; reconnects after an error or a `Connection: close`.
    A request unanswered after REQUEST_TIMEOUT is given up (the connection is dropped):
    a periodic check rather than a timer per request, which would cost more than the
    rest of the request."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._answers: _Answers | None = None
        self._sent_at: float | None = None
        self._timed_out = False
        self._watch: asyncio.TimerHandle | None = None

    async def send(self, payload: bytes) -> str:
        """The answer's status code as text, or CONNECTION_ERROR / TIMEOUT: a failed
        request is a result to count, not an exception."""
        self._timed_out = False
        try:
            answers = self._answers
            if answers is None or answers.lost:
                answers = await self._connect()
            answer = answers.expect()
            assert answers.transport is not None
            answers.transport.write(payload)
            self._sent_at = time.monotonic()
            head = await answer
        except (OSError, ValueError) as exc:  # TimeoutError is an OSError
            self.close()
            return TIMEOUT if self._timed_out or isinstance(exc, TimeoutError) else CONNECTION_ERROR
        finally:
            self._sent_at = None
        if not head.keep:
            self.close()
        return str(head.status)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._answers is not None:
            if self._answers.transport is not None:
                self._answers.transport.close()
            self._answers = None

    async def _connect(self) -> _Answers:
        self.close()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(REQUEST_TIMEOUT):
            _, answers = await loop.create_connection(
                lambda: _Answers(loop), self._target.host, self._target.port
            )
        self._answers = answers
        self._watch = loop.call_later(REQUEST_TIMEOUT / 4, self._check, loop)
        return answers

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        sent_at = self._sent_at
        if sent_at is not None and time.monotonic() - sent_at > REQUEST_TIMEOUT:
            self._timed_out = True
            if self._answers is not None:
                self._answers.fail(TimeoutError("no answer in time"))
        self._watch = loop.call_later(REQUEST_TIMEOUT / 4, self._check, loop)
