"""Our own body for the one corrective event that no provider sends: "vanished".

A reconciliation repairs drift by producing events to the events topic. Upserts and
membership changes are shaped as the provider's own events (so its mapper reads them) and
name the run in a field the provider's model ignores; an object missing at the provider is
a `dsync.reconcile.vanished` event with this strict body (see `worker.merge.vanish`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.base import StrictModel, UtcDatetime
from schemas.parsing import validate_json
from schemas.storable import STORABLE

VANISHED = "dsync.reconcile.vanished"
EVENT_ID_PREFIX = "reconcile_"
"""Every corrective event id starts with it: the inbox and audit log show the provenance."""

Id = Annotated[str, Field(min_length=1, max_length=255), STORABLE]


class VanishedBody(StrictModel):
    run_id: Id
    kind: Literal["users", "groups"]
    id: Id
    directory_id: Id
    unchanged_since: UtcDatetime
    gone_at: UtcDatetime


def parse_vanished(body: bytes) -> VanishedBody:
    """Raises InvalidPayload with a reason safe to log."""
    return validate_json(VanishedBody, body)
