"""Three things aiokafka's clients do that dsync must not: create topics on the way, keep
their connections open when a stop is abandoned, and leave a connection open when a start
is cancelled. Each takes a producer's `.client`, a consumer's `._client` or an admin
client's `._client`. `short_lived_consumer` is a consumer outside any group, guarded
against the third."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import aiokafka.client
from aiokafka import AIOKafkaConsumer

# The bootstrap in progress in a task, and the connections it opened so far.
_bootstrapping: ContextVar[tuple[asyncio.Task[Any] | None, list[Any]] | None] = ContextVar(
    "dsync_kafka_bootstrapping", default=None
)


def never_auto_create(client: Any) -> None:
    """Make an aiokafka client's metadata refreshes ask for every topic rather than for the
    topics it uses. Its per-topic request asks the broker to create a missing topic (and
    Kafka's default `auto.create.topics.enable`, like the embedded Tansu, obliges): a
    deleted events topic, or one lost with a broker that restarted empty, would come back
    empty with the broker's default partitions and retention, the ingress would answer
    200 into it, and the worker's stored offsets would point past its end. A request for
    all topics creates nothing: a missing topic stays missing (the ingress answers 503,
    the worker waits) until `ensure_topics` creates it. aiokafka (0.14) has no setting
    for this, hence the wrapper around its one metadata call."""
    update = client._metadata_update

    async def all_topics(cluster_metadata: Any, _topics: object) -> Any:
        return await update(cluster_metadata, None)

    client._metadata_update = all_topics


def drop_connections(client: Any) -> None:
    """Close every connection of `client` now, without waiting for replies. For a stop
    that was given up at its deadline (leaving the group, flushing the producer): the
    process goes on (a test suite, `dsync dev` stopping its other parts), and sockets left
    open would be closed only by the garbage collector, with a ResourceWarning."""
    for connection in list(client._conns.values()):
        connection.close()


def close_bootstrap_on_cancel(client: Any) -> None:
    """Close the connection a cancelled bootstrap leaves behind. aiokafka's (0.14)
    bootstrap opens a connection, asks it for the cluster's metadata and closes it, but
    cancelled while it waits for that answer (a start given up at its deadline: a
    readiness probe or a flush at the ack timeout, a worker stopped while joining) it
    drops the connection still open, out of the client's reach: only the garbage
    collector closes it, with an "Unclosed AIOKafkaConnection" ResourceWarning, and
    under a slow broker every probe leaves one."""
    _record_bootstrap_connections()
    bootstrap = client.bootstrap

    async def closing_bootstrap() -> None:
        opened: list[Any] = []
        token = _bootstrapping.set((asyncio.current_task(), opened))
        try:
            await bootstrap()
        except BaseException:
            kept = [id(connection) for connection in client._conns.values()]
            for connection in opened:
                if id(connection) not in kept:
                    connection.close()  # idempotent: those it closed itself stay closed
            raise
        finally:
            _bootstrapping.reset(token)

    client.bootstrap = closing_bootstrap


def _record_bootstrap_connections() -> None:
    """Make `aiokafka.client`'s `create_conn` hand each connection it opens to the
    bootstrap in progress in the same task, if any (a no-op for every other caller; the
    metadata task a bootstrap starts inherits its context, not its task). Once per
    process: the client module looks the function up at each call, and keeps no other
    reference to the connection it drops."""
    create = aiokafka.client.create_conn
    if getattr(create, "records_bootstrap_connections", False):
        return

    async def recording(*args: Any, **kwargs: Any) -> Any:
        connection = await create(*args, **kwargs)
        bootstrapping = _bootstrapping.get()
        if bootstrapping is not None and bootstrapping[0] is asyncio.current_task():
            bootstrapping[1].append(connection)
        return connection

    recording.records_bootstrap_connections = True  # type: ignore[attr-defined]
    aiokafka.client.create_conn = recording


@asynccontextmanager
async def short_lived_consumer(bootstrap_servers: str, **options: Any) -> AsyncIterator[Any]:
    """A started consumer outside any group, stopped when the block ends, also when its
    start fails or is cancelled half way (the connections it made so far are closed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None, **options)
    close_bootstrap_on_cancel(consumer._client)
    try:
        await consumer.start()
        yield consumer
    finally:
        await consumer.stop()
