"""Bearer tokens of SCIM directories: 32 random bytes, shown once, stored as sha256.

A hash, not a slow KDF: the token has 256 bits of entropy, so nothing can be guessed
from its digest, and each request hashes it once. Comparison runs in constant time over
every live token of the directory the URL names, so a token only ever reaches its own
directory, and timing tells nothing about which byte differed. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

PREFIX = "scim_"


def new_token() -> tuple[str, bytes]:
    """A fresh token and the digest to store."""
    token = PREFIX + secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def presented(authorization: str | None) -> str | None:
    """The token of an `Authorization` header: `Bearer <token>`, or the bare token (Okta's
    header auth and Base44's instructions paste it without the scheme)."""
    if not authorization:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else authorization.strip()
    return token or None


def matches(token: str, stored: Iterable[bytes]) -> bool:
    """Whether `token` is one of the stored digests; looks at all of them, always."""
    candidate = digest(token)
    found = False
    for expected in stored:
        found |= hmac.compare_digest(candidate, expected)
    return found
