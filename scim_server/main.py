"""The SCIM process's composition root (`dsync scim`)."""

from __future__ import annotations

import asyncio
import signal

import uvicorn

from dsync import eventloop
from dsync.servers import EmbeddedServer
from dsync.settings import Settings
from scim_server.app import create_app


def server(settings: Settings) -> uvicorn.Server:
    """uvicorn for the SCIM app on scim_host:scim_port; signals are the caller's."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.scim_host,
        port=settings.scim_port,
        lifespan="on",
        access_log=False,  # query strings hold filters, and filters hold user names
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        server_header=False,
    )
    return EmbeddedServer(config)


def main(settings: Settings) -> None:
    """`dsync scim`: serve until SIGINT/SIGTERM, drain, exit 0."""

    async def serve() -> None:
        scim = server(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, scim.handle_exit, sig, None)
        await scim.serve()

    eventloop.run(serve())
