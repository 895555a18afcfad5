"""Text PostgreSQL can hold.

A PostgreSQL `text` (and a jsonb string) cannot hold the NUL character, and a UTF-8
database cannot hold a lone surrogate (U+D800..U+DFFF without its pair: JSON can spell one,
`"\\ud800"`, and Python decodes it). A value with either one fails whichever statement
carries it, so what routes or keys an event is refused where it arrives (the envelope),
and what describes a refused event (a dead letter) is escaped so that it can always be
stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Annotated

from pydantic import AfterValidator, Field

_NUL = "\x00"


def unstorable(value: str) -> str | None:
    """What PostgreSQL text cannot hold in `value` ("a NUL character", "a lone surrogate"),
    or None. Never quotes the value."""
    if _NUL in value:
        return "a NUL character"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "a lone surrogate"
    return None


def _storable(value: str) -> str:
    problem = unstorable(value)
    if problem is not None:
        raise ValueError(f"holds {problem}, which PostgreSQL text cannot store")
    return value


STORABLE = AfterValidator(_storable)
"""Put after a str's length constraints (`Annotated[str, Field(...), STORABLE]`), so that
a length error reads as one and a refusal gives its reason."""
StorableText = Annotated[str, STORABLE]
"""A str that PostgreSQL text can hold; pydantic refuses anything else with a reason."""


def escaped(value: str) -> str:
    """`value` as text PostgreSQL can hold: a lone surrogate as `\\ud800`, NUL as `\\x00`.
    Clean text is returned unchanged. For display only: the raw bytes are kept elsewhere."""
    if unstorable(value) is None:
        return value
    return value.encode("utf-8", "backslashreplace").decode().replace(_NUL, "\\x00")


def escaped_bytes(raw: bytes) -> str:
    """Bytes (a Kafka header value) as text PostgreSQL can hold: invalid UTF-8 as `\\xNN`,
    NUL as `\\x00`. Valid UTF-8 without NUL is decoded unchanged."""
    return raw.decode("utf-8", "backslashreplace").replace(_NUL, "\\x00")


# How JSON spells a NUL or a surrogate (hex digits in either case). It also matches an
# escaped backslash followed by "u0000", or a valid surrogate pair: then the caller looks
# closer, so a false alarm costs time, never a refused event.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def may_hold_unstorable(body: bytes) -> bool:
    """False when no JSON parser can read a NUL or a lone surrogate out of `body`, so the
    common body costs two scans. In JSON both can only be spelled as a `\\u` escape (a
    raw NUL is not valid JSON), or, for Python's json (it decodes bytes with
    surrogatepass), as a surrogate's own UTF-8 bytes, which a strict decode refuses."""
    if _SUSPECT_ESCAPE.search(body) is not None:
        return True
    try:
        body.decode()
    except UnicodeDecodeError:
        return True
    return False


def first_unstorable(value: object, path: str) -> str | None:
    """Where in `value` (dataclasses, mappings, lists and tuples of them, down to str)
    the first text PostgreSQL cannot hold is, and what it holds: `"PutUser.row.first_name
    holds a NUL character"`. Mapping keys are checked but not named (they are data)."""
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            problem = unstorable(item)
            if problem is not None:
                return f"{where} holds {problem}"
        elif isinstance(item, Mapping):
            stack.extend((key, f"{where} (a key)") for key in item)
            stack.extend((child, f"{where}[…]") for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{n}]") for n, child in enumerate(item))
        elif is_dataclass(item) and not isinstance(item, type):
            stack.extend(
                (getattr(item, f.name), f"{where}.{f.name}") for f in reversed(fields(item))
            )
    return None


# Ids and types become record keys and headers, inbox and dead-letter columns: text that
# PostgreSQL can hold, within the columns' and Kafka tools' expectations. An older ingress
# or another producer may have written anything, so `decode_envelope` applies the same rule.
Id = Annotated[str, Field(min_length=1, max_length=255), STORABLE]
EventType = Annotated[str, Field(min_length=1, max_length=128), STORABLE]
