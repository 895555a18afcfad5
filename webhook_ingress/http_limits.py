"""What one HTTP connection may hold of the ingress: header bytes, and time.

These limits live in the protocol layer because an ASGI app sees a request only once the
server has parsed, and buffered, all of its headers. uvicorn's httptools protocol has no
header limit and no read timeouts (its `h11_max_incomplete_event_size` applies to the h11
protocol only, and llhttp buffers a header value of any size), so without these 20
requests with 16 MiB of headers took the process to 700 MB, and slow senders held their
connections for as long as they kept dripping.

- Header bytes: past `max_header_bytes` before the headers end, 431 and close.
- Header time: the headers must end within `header_timeout` of connecting, or of the
  first byte of a later request on a kept-alive connection; else 408 and close (an idle
  connection that never sent a byte is just closed). Idle time between requests is the
  keep-alive timeout's business.
- Body time: the webhook endpoint reads its body under `body_timeout` and answers 408
  itself (see body.py). This layer closes the connection `BODY_GRACE_SECONDS` later if
  the body is still incomplete, for paths that answered without reading it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dsync.metrics import ConnectionRefusal, IngressMetrics
from dsync.settings import Settings

BODY_GRACE_SECONDS = 1.0

# After a refusal the connection is half-closed and what the sender still has in flight
# is read and dropped, for this long or this many bytes, before closing: closing with
# unread bytes would reset the connection, and the sender would never read its 431.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024

_REFUSALS: dict[int, tuple[bytes, ConnectionRefusal, str]] = {
    408: (b"Request Timeout", "header_timeout", "request headers were not received in time"),
    431: (
        b"Request Header Fields Too Large",
        "headers_too_large",
        "request headers exceed the size limit",
    ),
}


@dataclass(frozen=True, slots=True)
class Limits:
    max_header_bytes: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_header_bytes,
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
        )


def limited_protocol(limits: Limits, counters: IngressMetrics) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `limits`, counting what they close in `counters`
    (uvicorn takes a protocol class, not an instance)."""
    attributes = {"limits": limits, "counters": counters}
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), attributes)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[Limits]
    counters: ClassVar[IngressMetrics]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._in_headers = True  # until the current request's headers end
        self._begun = False  # the current request has sent a byte
        self._dropped: int | None = None  # bytes dropped after a refusal
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._dropped is not None:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self.transport.close()
            return
        super().data_received(data)
        if not self._in_headers or self.transport.is_closing():
            return
        # The headers have not ended, so every byte of this read was a header byte (but
        # for the end of a pipelined previous request: at most one read counted twice).
        self._header_bytes += len(data)
        if self._header_bytes > self.limits.max_header_bytes:
            self._refuse(431)

    def on_message_begin(self) -> None:
        if self._dropped is not None:
            return
        super().on_message_begin()
        self._header_bytes = 0
        self._in_headers = self._begun = True
        if self._deadline is None:  # a kept-alive connection's next request
            self._arm(self.limits.header_timeout)

    def on_headers_complete(self) -> None:
        if self._dropped is not None:
            return
        if _header_size(self.url, self.headers) > self.limits.max_header_bytes:
            self._refuse(431)  # all of them came in one read
            return
        self._in_headers = False
        self._arm(self.limits.body_timeout + BODY_GRACE_SECONDS)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._dropped is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._dropped is not None:
            return
        self._begun = False
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_headers and self._begun:
            self._refuse(408)
            return
        if self._dropped is None and not self._in_headers:
            # A body still dripping after the endpoint answered (408, or without reading it).
            self.counters.refused("body_timeout")
        # Else: never sent a byte (not worth counting: TCP health checks), or the end of
        # the wait after a refusal.
        self.transport.close()

    def _refuse(self, status: int) -> None:
        """Answer before any ASGI request exists, and close."""
        self._in_headers = False
        self._dropped = 0
        phrase, code, detail = _REFUSALS[status]
        self.counters.refused(code)
        body = json.dumps({"error": code, "detail": detail}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, phrase, len(body), body)
        )
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._arm(LINGER_SECONDS)  # then _expired closes it


def _header_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The header block's size as sent, give or take the request line's method and version."""
    return len(url) + sum(len(name) + len(value) + 4 for name, value in headers)
