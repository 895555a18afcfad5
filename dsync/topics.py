"""Create the topics dsync needs (idempotent). Nothing else creates one."""

from __future__ import annotations

from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from dsync.logs import Log

_log = Log("dsync.topics")


class TopicCreationError(Exception):
    """The broker refused to create a topic."""


async def ensure_topics(bootstrap_servers: str, topics: dict[str, int]) -> None:
    """Create each missing topic with the given partition count; leave existing ones alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, n, 1) for name, n in topics.items() if name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, *_ in response.topic_errors:
                # 36: created concurrently by another process, which is fine.
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise TopicCreationError(f"creating topic {name!r} failed with error {code}")
        _log.info("topics.ensured", topics=sorted(topics), created=[t.name for t in missing])
    finally:
        await admin.close()


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
