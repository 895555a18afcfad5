"""A Kafka client start given up half way leaves no connection open. aiokafka's bootstrap,
cancelled while it waits for the broker's metadata answer, drops its connection still
open; only the garbage collector closed it, with an "Unclosed AIOKafkaConnection"
ResourceWarning that failed whichever later test the collector ran in. Each case here
cancels one of dsync's starts exactly there: behind a proxy that stops answering after
the first request of each connection (ApiVersions), once the metadata request is out."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
import warnings
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from dsync.producer import KafkaProducer
from dsync.topics import ensure_topics
from tests.stalling_broker import StallingBroker, stalling_broker
from tests.support import eventually
from worker import topic_bounds
from worker.consumer import KafkaSource

pytestmark = pytest.mark.kafka

ACK_TIMEOUT = 0.5
PROBES = 5


@contextlib.contextmanager
def unclosed_connections() -> Iterator[list[str]]:
    """The "Unclosed AIOKafkaConnection" warnings of the block, the garbage collector's
    included (it is run at the end, and kept from running before)."""
    found: list[str] = []
    gc.disable()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            yield found
            gc.collect()
    finally:
        gc.enable()
    found += [str(w.message) for w in caught if "Unclosed AIOKafkaConnection" in str(w.message)]


async def metadata_asked(proxy: StallingBroker, connections: int) -> None:
    """Until `connections` bootstraps have sent their metadata request (the second)."""
    await eventually(lambda: _requests(proxy), lambda n: n >= 2 * connections, within=10)


async def _requests(proxy: StallingBroker) -> int:
    return proxy.requests


async def test_readiness_probes_given_up_mid_bootstrap_leave_no_connection(
    kafka_bootstrap: str,
) -> None:
    async with stalling_broker(kafka_bootstrap, answers=1) as proxy:
        with unclosed_connections() as unclosed:
            producer = KafkaProducer(proxy.address, ack_timeout=ACK_TIMEOUT, idempotent=False)
            answers = [await producer.readiness(["dsync.events"]) for _ in range(PROBES)]
            await producer.close()
        asked = proxy.requests

    assert answers == ["broker_unavailable"] * PROBES
    assert asked == 2 * PROBES  # each probe was cut short waiting for the metadata
    assert unclosed == []


async def test_a_worker_stopped_mid_bootstrap_leaves_no_connection(kafka_bootstrap: str) -> None:
    async def no_stored_offsets(_topic: str) -> dict[int, int]:
        return {}

    async with stalling_broker(kafka_bootstrap, answers=1) as proxy:
        with unclosed_connections() as unclosed:
            source = KafkaSource(
                proxy.address,
                "dsync.events",
                "dsync-test-stalled",
                stored_offsets=no_stored_offsets,
                max_records=10,
            )
            stop = asyncio.Event()
            starting = asyncio.create_task(source.start(stop))
            await metadata_asked(proxy, 1)
            stop.set()
            await starting
            await source.stop()

    assert unclosed == []


Cut = Callable[[str], Coroutine[Any, Any, object]]
CUTS: dict[str, Cut] = {
    "end offsets (dsync status)": lambda address: topic_bounds.end_offsets(address, "dsync.events"),
    "log bounds (dsync offsets)": lambda address: topic_bounds.log_bounds(address, "dsync.events"),
    "topic creation (dsync topics)": lambda address: ensure_topics(
        address, {f"dsync.test.{uuid.uuid4().hex[:12]}": 1}
    ),
}


@pytest.mark.parametrize("start", list(CUTS.values()), ids=list(CUTS))
async def test_a_short_lived_client_cut_short_mid_bootstrap_leaves_no_connection(
    kafka_bootstrap: str, start: Cut
) -> None:
    async with stalling_broker(kafka_bootstrap, answers=1) as proxy:
        with unclosed_connections() as unclosed:
            work: asyncio.Task[object] = asyncio.create_task(start(proxy.address))
            await metadata_asked(proxy, 1)
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work

    assert unclosed == []
