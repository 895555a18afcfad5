"""Correctly signed sample events, one per provider, to try a running dsync by hand
(`dsync sample --provider workos|stytch|polis`: every registered provider with a webhook;
tests/unit/test_sample.py fails when one has no sample here).

Each sample carries every field the worker's model of its provider requires (schemas/),
so it lands as a row in `dsync.users`; a sample that were accepted and then dead-lettered
would teach a newcomer the wrong thing. Pure functions build, sign, pad and tamper; only
`send` does I/O."""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import select
import socket
import sys
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr

from dsync.settings import ConfigError, Settings
from dsync.shell.command import SECRETS, Commands, add_command
from schemas.providers import PROVIDERS as REGISTRY
from schemas.providers import Source
from webhook_ingress import polis, workos

Provider = Source
# The registered providers that post webhooks, with the Settings field of their secrets.
_SECRETS_SETTING: dict[Provider, str] = {
    spec.source: spec.webhook.secrets_setting for spec in REGISTRY if spec.webhook
}
PROVIDERS: tuple[Provider, ...] = tuple(_SECRETS_SETTING)

# The time every sample claims for its change; the same each run, so a second send is a
# duplicate (WorkOS, Stytch) or an update with nothing new (Polis, which sends no event id).
_AT = "2026-01-01T00:00:00.000Z"

_WORKOS_EVENT: dict[str, object] = {
    "id": "event_01DSYNCSAMPLE0000000000001",
    "event": "dsync.user.created",
    "data": {
        "id": "directory_user_01DSYNCSAMPLE00000000000001",
        "directory_id": "directory_01DSYNCSAMPLE0000000000001",
        "organization_id": "org_01DSYNCSAMPLE00000000000001",
        "idp_id": "sample-1",
        "email": "ada.lovelace@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "state": "active",
        "custom_attributes": {"department": "Engineering"},
        "role": {"slug": "member"},
        "created_at": _AT,
        "updated_at": _AT,
    },
    "created_at": _AT,
}

_STYTCH_EVENT: dict[str, object] = {
    "event_id": "webhook-event-dsync-sample-1",
    "action": "CREATE",
    "object_type": "member",
    "source": "SCIM",
    "id": "member-dsync-sample-1",
    "timestamp": _AT,
    "member": {
        "member_id": "member-dsync-sample-1",
        "organization_id": "organization-dsync-sample-1",
        "email_address": "ada.lovelace@example.com",
        "name": "Ada Lovelace",
        "status": "active",
    },
}

_POLIS_EVENT: dict[str, object] = {
    "event": "user.created",
    "tenant": "dsync-sample",
    "product": "dsync",
    "directory_id": "polis-directory-dsync-sample-1",
    "data": {
        "id": "polis-user-dsync-sample-1",
        "email": "ada.lovelace@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "active": True,
    },
}

# Hand-written per provider: a sample must be a payload its model accepts.
_EVENTS: dict[Provider, dict[str, object]] = {
    "workos": _WORKOS_EVENT,
    "stytch": _STYTCH_EVENT,
    "polis": _POLIS_EVENT,
}
_USER_IDS: dict[Provider, str] = {
    "workos": "directory_user_01DSYNCSAMPLE00000000000001",
    "stytch": "member-dsync-sample-1",
    "polis": "polis-user-dsync-sample-1",
}
_PADDING_FIELD = b',"padding":"'
_CONTINUE_WAIT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Sample:
    provider: Provider
    body: bytes
    user_id: str  # the `dsync.users` row it becomes


def sample(provider: Provider) -> Sample:
    body = json.dumps(_EVENTS[provider], separators=(",", ":")).encode()
    return Sample(provider, body, _USER_IDS[provider])


def secret_for(settings: Settings, provider: Provider) -> str:
    """The secret to sign with: the first configured one, as the ingress checks them all."""
    setting = _SECRETS_SETTING[provider]
    configured: tuple[SecretStr, ...] = getattr(settings, setting)
    if not configured:
        variable = f"DSYNC_{setting.upper()}"
        raise ConfigError(f"{variable} is not set (the ingress's {provider} secret)")
    return configured[0].get_secret_value()


def signed_headers(provider: Provider, secret: str, body: bytes, *, now: float) -> dict[str, str]:
    """The headers the provider would send with `body` at `now` (unix seconds)."""
    headers = {"Content-Type": "application/json"}
    if provider == "workos":
        headers["WorkOS-Signature"] = workos.sign(secret, body, int(now * 1000))
    elif provider == "polis":
        headers["Ory-Polis-Signature"] = polis.sign(secret, body, int(now * 1000))
    elif provider == "stytch":
        # Stytch delivers through Svix: sign with the svix library, as Stytch does. Imported
        # here: it takes about a second to load, and every `dsync` command imports this
        # module (to register `sample`), while only a Stytch sample needs it.
        from svix.webhooks import Webhook

        message = f"msg_dsync_sample_{secrets.token_hex(8)}"
        moment = datetime.fromtimestamp(int(now), UTC)
        headers["svix-id"] = message
        headers["svix-timestamp"] = str(int(now))
        headers["svix-signature"] = Webhook(secret).sign(message, moment, body.decode())
    else:  # a registered webhook provider without a signer here: test_sample names it
        raise ValueError(f"no sample signer for {provider}")
    return headers


def padded(body: bytes, size: int) -> bytes:
    """`body` (a JSON object) with a `padding` field that makes it exactly `size` bytes;
    unchanged when `size` leaves no room for the field."""
    room = size - len(body) - len(_PADDING_FIELD) - 1  # the closing quote
    if room < 0:
        return body
    return body[:-1] + _PADDING_FIELD + b"x" * room + b'"}'


def tampered(body: bytes) -> bytes:
    """`body` with one name changed: what a signature must catch."""
    return body.replace(b"Ada", b"Eve", 1)


def expected_status(size: int, *, tamper: bool, max_body_bytes: int) -> int:
    """The answer the ingress must give: the size is refused before the signature is read."""
    if size > max_body_bytes:
        return 413
    return 401 if tamper else 200


def default_url(settings: Settings, provider: Provider) -> str:
    """The provider's endpoint on the configured ingress (a wildcard listening address is
    reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(  # noqa: S104
        settings.ingress_host, settings.ingress_host
    )
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.ingress_port}/webhooks/{provider}"


class Unreachable(Exception):
    """The ingress did not answer at all; the message says why."""


def send(url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """POST `body` with `headers`; the status and the answer's text, whatever the status.

    The body goes only after the server's `100 Continue` (or a second of silence): a server
    that refuses the size answers 413 at once and closes, and a client still writing two
    megabytes would see a broken pipe instead of that answer. (Over https the body goes at
    once: a TLS socket cannot peek at the interim answer.)"""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unreachable(f"cannot reach {url}: not an http(s) URL")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=30)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.putrequest("POST", target, skip_accept_encoding=True)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        plain = parts.scheme == "http"
        if plain:
            connection.putheader("Expect", "100-continue")
        connection.endheaders()
        if not plain or _may_continue(connection):
            connection.send(body)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except OSError as exc:  # refused, reset, timed out, name not found
        raise Unreachable(f"cannot reach {url}: {exc}") from exc
    finally:
        connection.close()


def _may_continue(connection: http.client.HTTPConnection) -> bool:
    """Wait for the interim answer: True (and consume it) on `100 Continue` or silence,
    False when the final answer came first (the body must not be sent)."""
    sock = connection.sock
    if not select.select([sock], [], [], _CONTINUE_WAIT_SECONDS)[0]:
        return True  # a server that does not do 100-continue: send anyway
    head = sock.recv(4096, socket.MSG_PEEK)
    if not head.startswith(b"HTTP/1.1 100"):
        return False
    for _ in range(50):  # the interim answer arrived split: wait for its end, a little
        if b"\r\n\r\n" in head:
            sock.recv(head.index(b"\r\n\r\n") + 4)
            break
        select.select([sock], [], [], 0.1)
        head = sock.recv(4096, socket.MSG_PEEK)
    return True


def run(
    settings: Settings, provider: Provider, *, url: str | None, tamper: bool, pad_to: int
) -> str | None:
    """Send the provider's sample and print the answer; None when it is the one asked for,
    otherwise what went wrong (the caller exits non-zero with it)."""
    body = padded(sample(provider).body, pad_to)
    headers = signed_headers(provider, secret_for(settings, provider), body, now=time.time())
    expected = expected_status(len(body), tamper=tamper, max_body_bytes=settings.max_body_bytes)
    try:
        status, answer = send(url or default_url(settings, provider), headers, _sent(body, tamper))
    except Unreachable as exc:
        return str(exc)
    print(status, answer)
    return None if status == expected else f"expected {expected}, got {status}"


def _sent(body: bytes, tamper: bool) -> bytes:
    return tampered(body) if tamper else body


def register(commands: Commands) -> None:
    command = add_command(
        commands,
        "sample",
        "send a correctly signed sample event of one provider",
        _command,
        detail="Exit 0 only when the answer is the one asked for: 200; 401 with --tamper; "
        "413 with --pad-to past DSYNC_MAX_BODY_BYTES.",
        needs=(f"the secret of --provider: one of {SECRETS}",),
        reads=("DSYNC_INGRESS_HOST, DSYNC_INGRESS_PORT (the default URL), DSYNC_MAX_BODY_BYTES",),
    )
    command.add_argument(
        "--provider",
        choices=PROVIDERS,
        default="workos",
        help="whose sample, signed the way that provider signs (default: %(default)s)",
    )
    command.add_argument(
        "--url",
        default=None,
        help="where to send it (default: http://DSYNC_INGRESS_HOST:DSYNC_INGRESS_PORT"
        "/webhooks/PROVIDER)",
    )
    command.add_argument(
        "--tamper", action="store_true", help="change the body after signing (expects 401)"
    )
    command.add_argument(
        "--pad-to",
        type=int,
        default=0,
        metavar="BYTES",
        help="pad the body to exactly this many bytes (past the cap, expects 413)",
    )


def _command(args: argparse.Namespace, settings: Settings) -> None:
    problem = run(settings, args.provider, url=args.url, tamper=args.tamper, pad_to=args.pad_to)
    if problem is not None:
        sys.exit(f"dsync sample: {problem}")
