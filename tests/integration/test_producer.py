"""The shared producer against the real broker: concurrent callers share flushes, and
every caller still gets its own answer, its partition and its order."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaProducer

from dsync.embedded import free_port
from dsync.producer import MAX_BATCH_BYTES, KafkaProducer, Message, ProduceError
from tests.support import consume_all

pytestmark = pytest.mark.kafka

KEYS = [f"directory_{n}".encode() for n in range(7)]


async def test_concurrent_callers_each_get_their_messages_stored_in_order(
    kafka_bootstrap: str, topic: str
) -> None:
    producer = KafkaProducer(kafka_bootstrap, ack_timeout=5.0, idempotent=False)
    calls = [
        [Message(topic, KEYS[(call + n) % len(KEYS)], f"{call}:{n}".encode()) for n in range(3)]
        for call in range(300)
    ]
    try:
        await asyncio.gather(*(producer.send_all(messages) for messages in calls))
    finally:
        await producer.close()

    records = await consume_all(kafka_bootstrap, topic, 900)
    assert sorted(r.value for r in records) == sorted(m.value or b"" for c in calls for m in c)
    by_key: dict[bytes, list[bytes]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key[record.key].append(record.value)
    for key, values in by_key.items():
        # Calls were queued in order, and each keeps its messages' order.
        sent = [m.value for c in calls for m in c if m.key == key]
        assert values == sent


async def test_a_key_lands_where_the_plain_aiokafka_producer_puts_it(
    kafka_bootstrap: str, topic: str
) -> None:
    ours = KafkaProducer(kafka_bootstrap, ack_timeout=5.0, idempotent=False)
    plain = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await plain.start()
    try:
        await ours.send_all([Message(topic, key, b"ours") for key in KEYS])
        for key in KEYS:
            await plain.send_and_wait(topic, b"plain", key=key)
    finally:
        await asyncio.gather(ours.close(), plain.stop())

    records = await consume_all(kafka_bootstrap, topic, 2 * len(KEYS))
    where = {(r.key, r.value): r.partition for r in records}
    assert len({where[(key, b"plain")] for key in KEYS}) > 1  # the keys do spread
    assert all(where[(key, b"ours")] == where[(key, b"plain")] for key in KEYS)


async def test_a_flush_larger_than_a_batch_is_split_and_kept_in_order(
    kafka_bootstrap: str, topic: str
) -> None:
    value = b"x" * 1024
    count = 2 * MAX_BATCH_BYTES // len(value) + 10
    producer = KafkaProducer(kafka_bootstrap, ack_timeout=10.0, idempotent=False)
    try:
        await producer.send_all(
            [Message(topic, KEYS[0], value + str(n).encode()) for n in range(count)]
        )
    finally:
        await producer.close()

    records = await consume_all(kafka_bootstrap, topic, count)
    assert [r.value[len(value) :] for r in records] == [str(n).encode() for n in range(count)]


async def test_without_a_broker_every_caller_is_told_within_the_timeout() -> None:
    producer = KafkaProducer(f"127.0.0.1:{free_port()}", ack_timeout=1.0, idempotent=False)
    started = time.monotonic()
    try:
        outcomes = await asyncio.gather(
            *(producer.send_all([Message("t", b"k", b"v")]) for _ in range(5)),
            return_exceptions=True,
        )
    finally:
        await producer.close()

    assert all(isinstance(outcome, ProduceError) for outcome in outcomes)
    assert time.monotonic() - started < 3.0
