"""A minimal HTTP/1.1 client for the load generator: keep-alive connections over raw
asyncio streams, requests built as bytes. Enough for our two servers (Content-Length
answers), and much cheaper per request than a general client, so the generator is not
what limits a run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from webhook_ingress import workos

REQUEST_TIMEOUT = 30.0
# Status of requests that got no HTTP answer.
CONNECTION_ERROR = "connection_error"
TIMEOUT = "timeout"


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


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status and whether the server keeps the connection; the body is read and dropped."""
    head = await reader.readuntil(b"\r\n\r\n")
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
    if length:
        await reader.readexactly(length)
    return status, keep


class Connection:
    """One keep-alive connection; reconnects after an error or a `Connection: close`."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, payload: bytes) -> str:
        """The answer's status code as text, or CONNECTION_ERROR / TIMEOUT: a failed
        request is a result to count, not an exception."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                if self._streams is None:
                    self._streams = await asyncio.open_connection(
                        self._target.host, self._target.port
                    )
                reader, writer = self._streams
                writer.write(payload)
                status, keep = await read_response(reader)
        except TimeoutError:
            self.close()
            return TIMEOUT
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.close()
            return CONNECTION_ERROR
        if not keep:
            self.close()
        return str(status)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
