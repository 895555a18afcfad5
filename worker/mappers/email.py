"""A user's email, the same rule for every provider: an address or nothing.

Accounts are found and linked by organization and address, so a value that is not an
address (Polis fills `email` from the SCIM `userName` when the IdP sends no address, e.g.
`kiran`) must never become one: the user is stored without an email and gets no account.
Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# One `@`, a local part, and a domain of at least two dot-separated labels; no whitespace
# or control characters anywhere. Deliberately loose otherwise (quoted local parts and
# internationalised domains pass): the IdP owns the address, dsync only refuses non-addresses.
_PART = r"[^@\s\x00-\x1f\x7f]"
_LABEL = r"[^@\s\x00-\x1f\x7f.]+"
_ADDRESS = re.compile(rf"{_PART}+@{_LABEL}(\.{_LABEL})+")
MAX_LENGTH = 320  # RFC 3696 (errata): 64 for the local part, 255 for the domain


def address(value: object) -> str | None:
    """`value` without surrounding whitespace if it is an address, else None."""
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    if len(candidate) > MAX_LENGTH or not _ADDRESS.fullmatch(candidate):
        return None
    return candidate


def first_address(*candidates: object) -> str | None:
    """The first candidate that is an address, in the order given."""
    return next((found for found in map(address, candidates) if found), None)


def scim_emails(user: Mapping[str, Any]) -> list[object]:
    """The values of a SCIM user's `emails`, the primary one first."""
    entries = user.get("emails")
    if not isinstance(entries, list):
        return []
    listed = [entry for entry in entries if isinstance(entry, Mapping)]
    primary = [entry for entry in listed if entry.get("primary") in (True, "true", "True")]
    others = [entry for entry in listed if entry not in primary]
    return [entry.get("value") for entry in primary + others]
