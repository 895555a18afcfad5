"""The ingress process's composition root."""

from __future__ import annotations

import asyncio
import signal

import uvicorn
from starlette.types import ASGIApp

from dsync import eventloop
from dsync.metrics import IngressMetrics
from dsync.servers import HostedServer
from dsync.settings import Settings
from webhook_ingress.app import create_app
from webhook_ingress.http_limits import Limits, limited_protocol

KEEP_ALIVE_SECONDS = 75


def server(settings: Settings, app: ASGIApp | None = None) -> uvicorn.Server:
    """A uvicorn server for the ingress (or, for the benchmark's baseline, `app` with the
    ingress's server settings). Once told to exit it closes its listening socket,
    lets requests in flight finish (up to `shutdown_grace_seconds`, then cancels them),
    and only then closes the producer."""
    counters = IngressMetrics()
    config = uvicorn.Config(
        app or create_app(settings, metrics=counters),
        host=settings.ingress_host,
        port=settings.ingress_port,
        lifespan="on",
        access_log=False,  # our own log lines carry event ids, not query strings
        log_config=None,  # keep the structured logging configured by the entry point
        log_level="warning",
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # Longer than load balancers' idle timeouts (60 s is common), so a pooled connection
        # is never closed by us just as the peer reuses it.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
        # httptools, with the header-size and read-timeout limits it lacks.
        http=limited_protocol(Limits.of(settings), counters),
    )
    # Signals are ours (see main): uvicorn's own handling re-raises SIGTERM after draining,
    # so a clean shutdown would end as "killed by SIGTERM" rather than exit status 0.
    return HostedServer(config)


def main(settings: Settings) -> None:
    """`dsync ingress`: serve until SIGINT/SIGTERM, drain, exit 0. A second SIGINT stops
    waiting for requests in flight."""

    async def serve() -> None:
        ingress = server(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, ingress.handle_exit, sig, None)
        await ingress.serve()

    eventloop.run(serve())
