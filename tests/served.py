"""An ASGI app served by uvicorn in the test's own event loop, on a loopback port: the
ingress, the SCIM server and the benchmark's bare receiver all start and stop this way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from dsync.servers import HostedServer

HOST = "127.0.0.1"


@asynccontextmanager
async def serving(config: uvicorn.Config) -> AsyncIterator[str]:
    """Serve `config` (host 127.0.0.1, a port of the caller's choosing, since some apps
    must know it) until the block ends; yields the root URL. A server that fails to start
    (port taken, lifespan error) raises here instead of leaving the test to time out."""
    server = HostedServer(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield f"http://{config.host}:{config.port}"
    finally:
        server.should_exit = True
        await task
