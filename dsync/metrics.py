"""Prometheus metrics: the closed set of names, and one registry per process (built by
its composition root, never global). Label values are bounded: providers, known event
types (anything else is `other`), outcomes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

from schemas.providers import PROVIDERS

MetricName = Literal[
    # ingress
    "dsync_ingress_requests_total",  # requests by provider, event type and outcome
    "dsync_ingress_broker_ack_seconds",  # time from produce to the broker's acknowledgement
    "dsync_ingress_connections_refused_total",  # closed by the HTTP limits, by reason
    # worker
    "dsync_worker_events_total",  # events by provider, event type and outcome
    "dsync_worker_batch_events",  # events per applied partition batch
    "dsync_worker_batch_seconds",  # time to apply one partition batch (transaction)
    "dsync_sync_latency_seconds",  # received at ingress -> committed in PostgreSQL
    "dsync_event_latency_seconds",  # provider's event time -> committed in PostgreSQL
    "dsync_sync_latency_budget_breaches_total",  # applied events over the latency budget
    "dsync_degraded_directories",  # directories over the latency budget (all workers)
    "dsync_worker_consumer_lag",  # records behind the partition's end, per partition
    "dsync_worker_held_partitions",  # partitions held until an operator decides, by reason
    "dsync_dead_letters_total",  # events dead-lettered, by provider
    "dsync_outbox_pending",  # outbox rows not yet relayed to Kafka (dead letters, changes)
    "dsync_deprovisions_total",  # accounts deactivated by sync, by provider
    "dsync_credentials_revoked_total",  # revoked by sync, by kind: session, api_key, device_token
    # SCIM server
    "dsync_scim_requests_total",  # SCIM answers by method, resource and status
    "dsync_scim_unavailable_total",  # writes answered 503, by reason (broker, commit wait)
    "dsync_scim_commit_wait_seconds",  # produced -> the worker's decision committed
    # puller
    "dsync_pull_events_total",  # events pulled, by provider, event type and outcome
    "dsync_pull_requests_total",  # provider API answers, by provider and status
    "dsync_pull_cursor_event_time_seconds",  # provider time of the cursor's event (unix)
    # reconcile
    "dsync_reconcile_drift_total",  # objects found drifted, by provider and kind
    "dsync_reconcile_repaired_total",  # corrective events produced, by provider and kind
    "dsync_reconcile_skipped_total",  # directories skipped: another run held them, by provider
    "dsync_reconcile_drifted_twice_directories",  # last two runs both found drift, by provider
]


IngressOutcome = Literal[
    "accepted",
    "bad_signature",
    "stale_timestamp",
    "malformed",
    "too_large",
    "body_timeout",
    "provider_not_configured",
    "broker_unavailable",
    "internal_error",
]
INGRESS_OUTCOMES: frozenset[str] = frozenset(get_args(IngressOutcome))

# Why the HTTP layer closed a connection before (or instead of) the app answering it.
ConnectionRefusal = Literal["headers_too_large", "header_timeout", "body_timeout"]

# From the registry: each provider's listed types, and the shapes of open ones (Stytch).
_KNOWN_TYPES = frozenset().union(*(spec.event_types for spec in PROVIDERS))
_TYPE_SHAPES = tuple(spec.is_event_type for spec in PROVIDERS if spec.is_event_type)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


def event_type_label(event_type: str | None) -> str:
    """Bounded label values: a type some registered provider knows, or other."""
    if event_type is None:
        return "unknown"
    if event_type in _KNOWN_TYPES:
        return event_type
    for is_event_type in _TYPE_SHAPES:  # a loop, not any(): this runs on every webhook
        if is_event_type(event_type):
            return event_type
    return "other"


class IngressMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            metric_name("dsync_ingress_requests_total"),
            "Webhook requests by provider, event type and outcome.",
            ["provider", "event_type", "outcome"],
            registry=self.registry,
        )
        self.broker_ack = Histogram(
            metric_name("dsync_ingress_broker_ack_seconds"),
            "Time from handing events to the producer to the broker's acknowledgement.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._refused = Counter(
            metric_name("dsync_ingress_connections_refused_total"),
            "Connections the HTTP limits closed: headers too large (431), headers too slow "
            "(408), or a body still dripping after the body timeout.",
            ["reason"],
            registry=self.registry,
        )

        # The labelled children, looked up once: `labels()` takes a lock and builds a key
        # on every call, which showed per webhook in B1's profile. Bounded like the labels.
        self._children: dict[tuple[str, str, str], Any] = {}

    def request(self, provider: str, event_type: str | None, outcome: IngressOutcome) -> None:
        labels = (provider, event_type_label(event_type), outcome)
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self.requests.labels(*labels)
        child.inc()

    def refused(self, reason: ConnectionRefusal) -> None:
        self._refused.labels(reason).inc()


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            metric_name("dsync_worker_events_total"),
            "Events by provider, event type and outcome.",
            ["provider", "event_type", "outcome"],
            registry=self.registry,
        )
        self.batch_events = Histogram(
            metric_name("dsync_worker_batch_events"),
            "Events per applied partition batch.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            metric_name("dsync_worker_batch_seconds"),
            "Time to apply one partition batch, transaction included.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sync_latency = Histogram(
            metric_name("dsync_sync_latency_seconds"),
            "From the ingress receiving an event to its batch committing in PostgreSQL.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.dead_letters = Counter(
            metric_name("dsync_dead_letters_total"),
            "Events dead-lettered, by provider.",
            ["provider"],
            registry=self.registry,
        )
        self.event_latency = Histogram(
            metric_name("dsync_event_latency_seconds"),
            "From the provider's event time to its batch committing in PostgreSQL.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.budget_breaches = Counter(
            metric_name("dsync_sync_latency_budget_breaches_total"),
            "Applied events whose sync latency exceeded DSYNC_SYNC_LATENCY_BUDGET_SECONDS.",
            ["provider"],
            registry=self.registry,
        )
        self.degraded_directories = Gauge(
            metric_name("dsync_degraded_directories"),
            "Directories over the sync-latency budget (all workers), as of the last batch.",
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            metric_name("dsync_worker_consumer_lag"),
            "Records between the partition's end and this worker's next offset, as of the "
            "last fetch.",
            ["partition"],
            registry=self.registry,
        )
        self.held_partitions = Gauge(
            metric_name("dsync_worker_held_partitions"),
            "Partitions of the events topic held until an operator decides, by reason (all "
            "workers of the group), as of this worker's last check.",
            ["reason"],
            registry=self.registry,
        )
        self.deprovisions = Counter(
            metric_name("dsync_deprovisions_total"),
            "Accounts deactivated by sync (every credential revoked), by provider.",
            ["provider"],
            registry=self.registry,
        )
        self.credentials_revoked = Counter(
            metric_name("dsync_credentials_revoked_total"),
            "Credentials revoked by sync, by kind: session, api_key, device_token.",
            ["kind"],
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            metric_name("dsync_outbox_pending"),
            "Outbox rows not yet relayed to Kafka, as of the relay's last pass.",
            registry=self.registry,
        )


def metric_name(name: MetricName) -> str:
    """prometheus-client appends `_total` to counters itself."""
    return name.removesuffix("_total")


def exposition(registry: CollectorRegistry) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint serving `registry` in the Prometheus text format."""

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
