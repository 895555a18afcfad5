"""A correctly signed sample WorkOS event, to try a running dsync by hand."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from webhook_ingress import workos

SAMPLE_EVENT: dict[str, object] = {
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
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    },
    "created_at": "2026-01-01T00:00:00.000Z",
}


def sample_body() -> bytes:
    return json.dumps(SAMPLE_EVENT, separators=(",", ":")).encode()


def send(url: str, secret: str, body: bytes, *, tamper: bool = False) -> tuple[int, str]:
    """POST `body` signed now with `secret`; `tamper` changes one byte after signing."""
    signature = workos.sign(secret, body, int(time.time() * 1000))
    if tamper:
        body = body.replace(b"Ada", b"Eve", 1)
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own ingress
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "WorkOS-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
