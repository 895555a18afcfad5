"""A SCIM write as an event: produced to the events topic (source `scim`, a random event
id, keyed by directory so a directory's writes keep their order), then the commit wait.

503 with Retry-After when the broker does not acknowledge or the worker does not commit
within the deadline: the IdPs retry. A write that timed out may still commit later; its
retry then meets the committed state (a create answers 409, which Okta and Entra resolve
by matching on userName).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from dsync.producer import Message, ProduceError, Producer
from dsync.source_metrics import ScimMetrics
from schemas.envelope import EventEnvelope
from schemas.scim import ScimWrite
from scim_server.commits import CommitWaiter, Outcome
from scim_server.errors import ScimError

RETRY_AFTER_SECONDS = 5


class Writer:
    def __init__(
        self,
        producer: Producer,
        topic: str,
        waiter: CommitWaiter,
        *,
        timeout: float,
        metrics: ScimMetrics,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._waiter = waiter
        self._timeout = timeout
        self._metrics = metrics

    async def submit(self, write: ScimWrite) -> Outcome:
        """The worker's decision once committed; ScimError(503) when it does not come."""
        envelope = EventEnvelope(
            source="scim",
            event_id=str(uuid.uuid4()),
            event_type=write.event_type,
            directory_id=write.directory_id,
            received_at=datetime.now(UTC),
            body=write.model_dump_json().encode(),
        )
        message = Message(
            self._topic, envelope.partition_key(), envelope.body, tuple(envelope.headers())
        )
        self._waiter.expect(envelope.event_id)
        try:
            await self._producer.send_all([message])
        except ProduceError as exc:
            self._waiter.forget(envelope.event_id)
            self._metrics.unavailable("broker_unavailable")
            raise _unavailable("the event log did not accept the write") from exc
        began = time.monotonic()
        outcome = await self._waiter.wait(envelope.event_id, self._timeout)
        if outcome is None:
            self._metrics.unavailable("commit_timeout")
            raise _unavailable("the write was not committed in time")
        self._metrics.commit_wait.observe(time.monotonic() - began)
        return outcome


def _unavailable(detail: str) -> ScimError:
    return ScimError(503, f"{detail}; retry", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
