"""Two things aiokafka's clients do that dsync must not: create topics on the way, and keep
their connections open when a stop is abandoned. Both take a producer's `.client` or a
consumer's `._client`."""

from __future__ import annotations

from typing import Any


def never_auto_create(client: Any) -> None:
    """Make an aiokafka client's metadata refreshes ask for every topic rather than for the
    topics it uses. Its per-topic request asks the broker to create a missing topic (and
    Kafka's default `auto.create.topics.enable`, like the embedded Tansu, obliges): a
    deleted events topic, or one lost with a broker that restarted empty, would come back
    empty with the broker's default partitions and retention, the ingress would answer
    200 into it, and the worker's stored offsets would point past its end. A request for
    all topics creates nothing: a missing topic stays missing (the ingress answers 503,
    the worker waits) until `ensure_topics` creates it. aiokafka (0.14) has no setting
    for this, hence the wrapper around its one metadata call. `client` is a producer's
    `.client` or a consumer's `._client`."""
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
