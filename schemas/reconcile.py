"""Our own bodies for the corrective events no provider sends in a usable form.

A reconciliation repairs drift by producing events to the events topic. Upserts are shaped
as the provider's own events (so its mapper reads them) and name the run in a field the
provider's model ignores. An object missing at the provider is `dsync.reconcile.vanished`
(see `worker.merge.vanish`); a membership to add or remove is `dsync.reconcile.membership`
(the same for every provider: WorkOS and Polis membership events would need full user and
group objects the listing of a group does not give). Both bodies are strict.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.base import StrictModel, UtcDatetime
from schemas.parsing import validate_json
from schemas.storable import STORABLE

VANISHED = "dsync.reconcile.vanished"
MEMBERSHIP = "dsync.reconcile.membership"
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


class MembershipBody(StrictModel):
    """`at` is the run's `unchanged_since`: the membership register is last-writer-wins by
    event time, so any live change after the listing began wins over the repair."""

    run_id: Id
    directory_id: Id
    group_id: Id
    user_id: Id
    present: bool
    at: UtcDatetime


def parse_membership(body: bytes) -> MembershipBody:
    return validate_json(MembershipBody, body)


def parse_vanished(body: bytes) -> VanishedBody:
    """Raises InvalidPayload with a reason safe to log."""
    return validate_json(VanishedBody, body)
