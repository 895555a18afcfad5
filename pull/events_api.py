"""GET /events of WorkOS (provider-apis.md §1.6), one page at a time.

Rules kept here: `events` is always sent (the server requires it), `order=asc` is always
sent (the live server ignores `order`, the SDK's default is `desc`: a fixed server must not
silently reverse us), `after` and `range_start` are never sent together, and `limit=100`
(the maximum) keeps the request count down. The page's `list_metadata.after` only says
whether more follows: the cursor is the id of the last event we handled, never that value
(it is null at the end of the stream) and never an id learned from a webhook (events are
withheld from cursor reads for a few seconds; a webhook's id can be ahead of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dsync.provider_http import ProviderHttp, ProviderUnavailable
from schemas.base import utc_text
from schemas.workos import KNOWN_EVENT_TYPES

PAGE_SIZE = 100
DSYNC_TYPES: tuple[str, ...] = tuple(sorted(KNOWN_EVENT_TYPES))


class MalformedPage(ProviderUnavailable):
    """A 2xx answer that is not an event list: handled like an outage (retry later, the
    cursor stays), since skipping what we cannot read would lose events."""


@dataclass(frozen=True, slots=True)
class EventsPage:
    events: Sequence[Any]  # oldest first, as served
    more: bool  # list_metadata.after was set: ask again at once


class EventsApi:
    def __init__(self, http: ProviderHttp, types: Sequence[str] = DSYNC_TYPES) -> None:
        self._http = http
        self._types = ",".join(types)

    async def page(self, *, after: str | None, range_start: datetime | None) -> EventsPage:
        """The events after `after`, or (no cursor yet) since `range_start`."""
        params = {"events": self._types, "order": "asc", "limit": str(PAGE_SIZE)}
        if after is not None:
            params["after"] = after
        elif range_start is not None:
            params["range_start"] = utc_text(range_start)
        return parse_page(await self._http.get_json("/events", params))


def parse_page(document: Any) -> EventsPage:
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise MalformedPage("GET /events: the answer has no `data` list")
    metadata = document.get("list_metadata")
    more = isinstance(metadata, dict) and metadata.get("after") is not None
    more = more and bool(document["data"])  # an empty page never means "ask again now"
    return EventsPage(document["data"], more)
