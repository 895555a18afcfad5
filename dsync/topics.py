"""Create the topics dsync needs (idempotent). Nothing else creates one."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from dsync.kafka_clients import close_bootstrap_on_cancel
from dsync.logs import Log

_log = Log("dsync.topics")


class TopicCreationError(Exception):
    """The broker refused to create a topic."""


async def ensure_topics(bootstrap_servers: str, topics: dict[str, int]) -> None:
    """Create each missing topic with the given partition count; leave existing ones alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    close_bootstrap_on_cancel(admin._client)
    try:
        await admin.start()
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
