"""Dead letters: how they are stored, listed, shown and sent back (`dsync dlq
list|show|redrive`, whose command line is dsync/shell/dlq.py).

Redrive produces the original record (value and envelope headers) back to the events
topic and marks the row redriven only after the broker acknowledged. The worker then
applies it through the normal path (event-id inbox, merge rules), so redriving twice is
harmless: the second copy is a duplicate. A redriven event that still cannot be applied
is dead-lettered again, as a new row. Bodies hold personal data: `show` prints one only
when asked, and nothing here logs one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dsync.logs import Log
from dsync.producer import Message, Producer
from schemas.storable import escaped, escaped_bytes
from sql import query
from worker.store import Store

_log = Log("worker.dlq")

# Headers the dead-letter topic adds (worker/outbox via sql/queries/bookkeeping.sql).
DEAD_LETTER_HEADER_PREFIX = "dsync-dead-letter-"
# The record's exact headers, when the stored ones had to be escaped (see stored_headers).
RAW_HEADERS = DEAD_LETTER_HEADER_PREFIX + "raw-headers"
REDRIVE_PAGE = 500
SUMMARY_COLUMNS = (
    "id",
    "created_at",
    "source",
    "event_type",
    "event_id",
    "directory_id",
    "topic",
    "partition",
    "offset",
    "reason",
    "redrive_count",
    "redriven_at",
)


@dataclass(frozen=True, slots=True)
class Letter:
    """What a redrive needs of a dead letter."""

    id: int
    event_id: str | None
    directory_id: str | None
    headers: dict[str, str]
    body: bytes | None


def stored_headers(raw: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """A record's headers as a dead letter stores them (jsonb): text PostgreSQL can hold,
    escaped where it could not (NUL, invalid UTF-8), so storing the letter is never
    refused. When that loses anything (an escape, a repeated name, a name of the
    dead-letter headers), the exact headers go along under RAW_HEADERS (names and base64
    values, ASCII JSON) for redrive."""
    exact = [(name, bytes(value)) for name, value in raw]
    stored = {escaped(name): escaped_bytes(value) for name, value in exact}
    ours = any(name.startswith(DEAD_LETTER_HEADER_PREFIX) for name in stored)  # a redrive drops
    if ours or [(name, value.encode()) for name, value in stored.items()] != exact:
        packed = [[name, base64.b64encode(value).decode()] for name, value in exact]
        stored[RAW_HEADERS] = json.dumps(packed)  # ASCII: a NUL in a name is spelled \u0000
    return stored


def original_headers(headers: Mapping[str, str]) -> tuple[tuple[str, bytes], ...]:
    """The record's own headers, exactly (from RAW_HEADERS when the letter has them):
    without any the dead-letter topic added."""
    packed = headers.get(RAW_HEADERS)
    if packed is not None:
        return tuple((name, base64.b64decode(value)) for name, value in json.loads(packed))
    return tuple(
        (name, value.encode())
        for name, value in headers.items()
        if not name.startswith(DEAD_LETTER_HEADER_PREFIX)
    )


def redrive_message(letter: Letter, events_topic: str) -> Message:
    """The original record again. Keyed like the ingress keys most events (directory,
    else event id): the original key is not stored, and the merge rules do not need the
    redriven event to meet its neighbours in order."""
    key = letter.directory_id or letter.event_id or str(letter.id)
    return Message(events_topic, key.encode(), letter.body, original_headers(letter.headers))


def plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON-ready values (times as ISO-8601)."""
    return {
        name: value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in row.items()
    }


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Tab-separated with a header line, like `dsync query`."""
    lines = ["\t".join(SUMMARY_COLUMNS)]
    for row in rows:
        lines.append("\t".join("" if row[c] is None else str(row[c]) for c in SUMMARY_COLUMNS))
    return "\n".join(lines)


async def list_letters(store: Store, directory: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest first."""
    async with store.transaction() as conn:
        rows = await conn.fetch(query("dlq_list"), directory, limit)
    return [plain(dict(row)) for row in rows]


async def show(store: Store, letter_id: int, *, body: bool) -> dict[str, Any] | None:
    async with store.transaction() as conn:
        row = await conn.fetchrow(query("dlq_show"), letter_id)
    if row is None:
        return None
    shown = plain(dict(row))
    raw = shown.pop("body")
    if body:
        shown["body"] = None if raw is None else bytes(raw).decode(errors="replace")
    return shown


async def redrive(
    store: Store,
    producer: Producer,
    events_topic: str,
    *,
    ids: Sequence[int] | None,
    directory: str | None,
) -> list[int]:
    """Redrive the letters `ids` (None: every letter never redriven), optionally only of
    `directory`; the ids redriven. A page is marked only once all of it was acknowledged."""
    done: list[int] = []
    after = 0
    while True:
        page = await _page(store, ids, directory, after)
        if not page:
            return done
        await producer.send_all([redrive_message(letter, events_topic) for letter in page])
        redriven = [letter.id for letter in page]
        async with store.transaction() as conn:
            await conn.execute(query("dlq_mark_redriven"), redriven)
        _log.info("dlq.redriven", ids=redriven)
        done += redriven
        if ids is not None:
            return done
        after = redriven[-1]


async def _page(
    store: Store, ids: Sequence[int] | None, directory: str | None, after: int
) -> list[Letter]:
    async with store.transaction() as conn:
        if ids is not None:
            rows = await conn.fetch(query("dlq_by_ids"), list(ids), directory)
        else:
            rows = await conn.fetch(query("dlq_not_redriven"), directory, after, REDRIVE_PAGE)
    return [Letter(**dict(row)) for row in rows]
