"""A stop given up at its deadline closes its connections: the process goes on (a test
suite, `dsync dev` stopping its other parts), and a socket left open is closed only by the
garbage collector, with a ResourceWarning (an error under this suite's settings)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dsync.embedded import EmbeddedBroker
from dsync.topics import ensure_topics
from worker import consumer
from worker.consumer import KafkaSource

pytestmark = pytest.mark.kafka


@pytest.fixture
async def frozen_broker(tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    """A broker of this test's own (it is frozen with SIGSTOP, which must not stall anyone
    else's tests); always thawed and stopped."""
    broker = EmbeddedBroker(tmp_path / "broker.log")
    bootstrap = broker.start()
    try:
        yield bootstrap, broker.pid
    finally:
        os.kill(broker.pid, signal.SIGCONT)
        broker.stop()


def _open(client: object) -> list[object]:
    return [c for c in client._conns.values() if c.connected()]  # type: ignore[attr-defined]


async def test_a_leave_given_up_at_its_deadline_closes_the_consumers_connections(
    frozen_broker: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap, pid = frozen_broker
    topic = f"dsync.test.{uuid.uuid4().hex[:12]}"
    await ensure_topics(bootstrap, {topic: 1})

    async def nothing_stored(_topic: str) -> dict[int, int]:
        return {}

    monkeypatch.setattr(consumer, "STOP_TIMEOUT", 2.0)
    source = KafkaSource(
        bootstrap, topic, "dsync-test-abandoned", stored_offsets=nothing_stored, max_records=10
    )
    await source.start(asyncio.Event())
    os.kill(pid, signal.SIGSTOP)  # the broker answers nothing from here on

    await source.stop()

    assert _open(source._consumer._client) == []
