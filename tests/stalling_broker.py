"""A TCP proxy in front of the test broker that goes silent at the moment a test picks:
each connection gets the answers to its first `answers` requests, then none (the requests
still reach the broker). It counts the requests, so a test can act while a client waits
for an answer that will not come (say, the bootstrap's metadata request)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class StallingBroker:
    upstream: tuple[str, int]
    answers: int
    address: str = ""  # host:port, for the client's bootstrap servers
    requests: int = 0  # every connection's, so far
    _clients: dict[asyncio.Task[None] | None, asyncio.StreamWriter] = field(default_factory=dict)

    async def serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        self._clients[asyncio.current_task()] = client_out
        broker_in, broker_out = await asyncio.open_connection(*self.upstream)
        answering = asyncio.create_task(_frames(broker_in, client_out, self.answers))
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:  # until the client (or `close`) closes the connection
                    await _frames(client_in, broker_out, 1)
                    self.requests += 1
        finally:
            answering.cancel()
            broker_out.close()
            client_out.close()

    async def close(self) -> None:
        """Hang up on every client still connected, and wait until each is let go."""
        for client_out in self._clients.values():
            client_out.close()
        await asyncio.gather(*(task for task in self._clients if task is not None))


async def _frames(source: asyncio.StreamReader, sink: asyncio.StreamWriter, count: int) -> None:
    """Pass on `count` whole Kafka frames (a 4-byte size, then that many bytes)."""
    for _ in range(count):
        size = await source.readexactly(4)
        sink.write(size + await source.readexactly(int.from_bytes(size, "big")))
        await sink.drain()


@asynccontextmanager
async def stalling_broker(bootstrap: str, answers: int) -> AsyncIterator[StallingBroker]:
    """A proxy of `bootstrap` on a free loopback port (its `address`)."""
    host, _, port = bootstrap.rpartition(":")
    proxy = StallingBroker((host, int(port)), answers)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", 0)
    proxy.address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield proxy
    finally:
        server.close()
        await proxy.close()
        await server.wait_closed()
