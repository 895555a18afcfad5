"""B1's baseline: `python -m bench.bare --port P`, a bare Starlette endpoint that only
verifies the WorkOS HMAC and parses the JSON, served by uvicorn with exactly the ingress's
server settings. The ratio ingress/bare is then the price of everything else the ingress
does (routing, envelope, broker ack, metrics, logs) on the same HTTP stack."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.loadgen import SECRET_ENV
from dsync import eventloop
from dsync.settings import load_settings
from webhook_ingress.main import server

PATH = "/webhooks/workos"
TOLERANCE_SECONDS = 180.0


def verify(key: bytes, header: str, body: bytes, now: float) -> bool:
    """`t=<ms>, v1=<hex>`: fresh timestamp and HMAC-SHA256(key, "t." + body) equal."""
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    timestamp, signature = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit() or abs(now - int(timestamp) / 1000) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def create_app(secret: str) -> Starlette:
    key = secret.encode()

    async def receive(request: Request) -> Response:
        body = await request.body()
        if not verify(key, request.headers.get("workos-signature", ""), body, time.time()):
            return JSONResponse({"status": "rejected"}, status_code=401)
        try:
            event = json.loads(body)
        except ValueError:
            return JSONResponse({"status": "rejected"}, status_code=400)
        if not isinstance(event, dict):
            return JSONResponse({"status": "rejected"}, status_code=400)
        return JSONResponse({"status": "accepted", "event_id": event.get("id")})

    return Starlette(routes=[Route(PATH, receive, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        sys.exit(f"bare: set {SECRET_ENV}")
    # The ingress's own uvicorn configuration with the app swapped, so any later change to
    # its server settings (loop, HTTP parser, keep-alive) applies to the baseline too.
    uvicorn_server = server(load_settings({}, ingress_port=args.port), create_app(secret))
    eventloop.run(uvicorn_server.serve())


if __name__ == "__main__":
    main()
