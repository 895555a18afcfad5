"""The metrics of the sources beside the webhook ingress: the WorkOS Events API puller,
reconciliation and the SCIM server. Their names are in dsync.metrics' closed set; one
registry per process, built by its composition root."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from dsync.metrics import LATENCY_BUCKETS, event_type_label, metric_name

PullOutcome = Literal["produced", "refused"]

# Why a SCIM write was answered 503 (the IdP retries it).
ScimUnavailable = Literal["broker_unavailable", "commit_timeout"]
SCIM_RESOURCES = frozenset({"Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas"})
_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class ReconcileMetrics:
    """`dsync reconcile --every ... --metrics-port`: what the runs found and repaired. Kinds
    are reconcile.drift's closed set (plus `unreadable_users|groups`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.drift = Counter(
            metric_name("dsync_reconcile_drift_total"),
            "Objects a reconciliation found drifted from the provider, by provider and kind.",
            ["provider", "kind"],
            registry=self.registry,
        )
        self.repaired = Counter(
            metric_name("dsync_reconcile_repaired_total"),
            "Corrective events a reconciliation produced (broker acknowledged), by kind.",
            ["provider", "kind"],
            registry=self.registry,
        )
        self.skipped = Counter(
            metric_name("dsync_reconcile_skipped_total"),
            "Directories a run skipped because another reconciliation of them was running.",
            ["provider"],
            registry=self.registry,
        )
        self.drifted_twice = Gauge(
            metric_name("dsync_reconcile_drifted_twice_directories"),
            "Directories whose last two reconciliations both found drift, as of the last run.",
            ["provider"],
            registry=self.registry,
        )


class PullMetrics:
    """Cursor lag is `time() - dsync_pull_cursor_event_time_seconds` (alert on it)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            metric_name("dsync_pull_events_total"),
            "Events pulled, by provider, event type and outcome (produced, refused).",
            ["provider", "event_type", "outcome"],
            registry=self.registry,
        )
        self.requests = Counter(
            metric_name("dsync_pull_requests_total"),
            "Provider API answers by status code (`network`: none).",
            ["provider", "status"],
            registry=self.registry,
        )
        self.cursor_event_time = Gauge(
            metric_name("dsync_pull_cursor_event_time_seconds"),
            "Provider time of the last event behind the stored cursor (unix seconds).",
            ["provider", "account"],
            registry=self.registry,
        )

    def pulled(self, provider: str, event_type: str | None, outcome: PullOutcome) -> None:
        self.events.labels(provider, event_type_label(event_type), outcome).inc()


class ScimMetrics:
    """The SCIM server's answers and its commit wait. Labels are bounded: the resource is
    one of SCIM_RESOURCES (else `other`), never the directory or the resource id."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            metric_name("dsync_scim_requests_total"),
            "SCIM answers by method, resource (Users, Groups, discovery or other) and status.",
            ["method", "resource", "status"],
            registry=self.registry,
        )
        self._unavailable = Counter(
            metric_name("dsync_scim_unavailable_total"),
            "SCIM writes answered 503: the broker did not acknowledge, or the worker did not "
            "commit within DSYNC_SCIM_COMMIT_TIMEOUT_SECONDS.",
            ["reason"],
            registry=self.registry,
        )
        self.commit_wait = Histogram(
            metric_name("dsync_scim_commit_wait_seconds"),
            "From a SCIM write's event acknowledged by the broker to the worker's decision "
            "read back (committed); timed-out waits are not observed.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def answered(self, method: str, resource: str, status: int) -> None:
        method = method if method in _HTTP_METHODS else "other"
        resource = resource if resource in SCIM_RESOURCES else "other"
        self._requests.labels(method, resource, str(status)).inc()

    def unavailable(self, reason: ScimUnavailable) -> None:
        self._unavailable.labels(reason).inc()
