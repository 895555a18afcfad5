"""Corrective events as records on the events topic: the same envelope, record key and
headers the ingress gives the provider's own events (so a correction shares a partition,
in order, with the live events about the same object), plus a provenance header naming the
run. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from dsync.producer import Message
from reconcile.drift import DriftKind
from reconcile.listing import Kind
from schemas.envelope import EventEnvelope, Source
from schemas.reconcile import MEMBERSHIP, VANISHED

H_RECONCILE_RUN = "dsync-reconcile-run"


@dataclass(frozen=True, slots=True)
class Correction:
    kind: DriftKind
    object_id: str  # a user or group id; "group_id/user_id" for a membership
    envelope: EventEnvelope
    personal: str | None = None  # an e-mail, printed only with --show-personal-data


def message(correction: Correction, topic: str, run_id: str) -> Message:
    envelope = correction.envelope
    headers = (*envelope.headers(), (H_RECONCILE_RUN, run_id.encode()))
    return Message(topic, envelope.partition_key(), envelope.body, headers)


def vanished(
    source: Source,
    directory_id: str,
    kind: Kind,
    object_id: str,
    since: datetime,
    gone_at: datetime,
    ids: tuple[str, str],
    key: str | None,
) -> EventEnvelope:
    """`ids` = (event id, run id)."""
    body = {
        "run_id": ids[1],
        "kind": kind,
        "id": object_id,
        "directory_id": directory_id,
        "unchanged_since": since.isoformat(),
        "gone_at": gone_at.isoformat(),
    }
    return _own(source, directory_id, VANISHED, body, ids[0], gone_at, key)


def membership(
    source: Source,
    directory_id: str,
    pair: tuple[str, str],
    present: bool,
    at: datetime,
    ids: tuple[str, str],
    key: str | None,
) -> EventEnvelope:
    """`pair` = (group id, user id); `ids` = (event id, run id)."""
    body = {
        "run_id": ids[1],
        "directory_id": directory_id,
        "group_id": pair[0],
        "user_id": pair[1],
        "present": present,
        "at": at.isoformat(),
    }
    return _own(source, directory_id, MEMBERSHIP, body, ids[0], at, key)


def _own(
    source: Source,
    directory_id: str,
    event_type: str,
    body: Mapping[str, object],
    event_id: str,
    at: datetime,
    key: str | None,
) -> EventEnvelope:
    return EventEnvelope(
        source=source,
        event_id=event_id,
        event_type=event_type,
        directory_id=directory_id,
        received_at=datetime.now(UTC),
        body=json.dumps(body, separators=(",", ":")).encode(),
        occurred_at=at,
        key=key,
    )
