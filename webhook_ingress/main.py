"""The ingress process's composition root."""

from __future__ import annotations

import uvicorn

from dsync.settings import Settings
from webhook_ingress.app import create_app

KEEP_ALIVE_SECONDS = 75


def server(settings: Settings) -> uvicorn.Server:
    """A uvicorn server for the ingress; SIGTERM stops accepting and drains in-flight requests."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.ingress_host,
        port=settings.ingress_port,
        lifespan="on",
        access_log=False,  # our own log lines carry event ids, not query strings
        log_config=None,  # keep the structured logging configured by the entry point
        log_level="warning",
        timeout_graceful_shutdown=10,
        # Longer than load balancers' idle timeouts (60 s is common), so a pooled connection
        # is never closed by us just as the peer reuses it.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
    )
    return uvicorn.Server(config)


def main(settings: Settings) -> None:
    """`dsync ingress`."""
    server(settings).run()
