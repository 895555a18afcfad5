#!/usr/bin/env python3
"""Writes deploy/grafana/dsync.json, the Grafana dashboard over dsync's metrics.

The panels are declared below; ids and grid positions are assigned by `_layout`, so adding a
panel never means renumbering by hand. deploy/validate.py fails when the checked-in JSON is not
what `render()` returns, and checks every expression against dsync/metrics.py.

    python3 deploy/grafana/dashboard.py

Import the JSON in Grafana (Dashboards > New > Import) or provision it from a file. The data
source is the variable `datasource`, so the file names no data source of yours.

Standard library only: it runs with any Python 3.11, no venv needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGET = Path(__file__).resolve().parent / "dsync.json"

Panel = dict[str, Any]

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROVIDER = 'provider=~"$provider"'
RATE = "$__rate_interval"
# DSYNC_SYNC_LATENCY_BUDGET_SECONDS' default; thresholds cannot read a dashboard variable.
BUDGET_SECONDS = 30
WIDTH = 24  # Grafana's grid is 24 columns wide.
HEIGHT = 8


def _quantiles(metric: str, by: str = "", matcher: str = "") -> list[tuple[str, str]]:
    """p50 and p99 of a histogram, per `by` label when given."""
    labels = f"{by}, le" if by else "le"
    selector = f"{metric}_bucket{{{matcher}}}" if matcher else f"{metric}_bucket"
    suffix = f" {{{{{by}}}}}" if by else ""
    return [
        (f"histogram_quantile({q}, sum by ({labels}) (rate({selector}[{RATE}])))", f"p{p}{suffix}")
        for q, p in (("0.5", "50"), ("0.99", "99"))
    ]


def _timeseries(
    title: str,
    description: str,
    targets: list[tuple[str, str]],
    unit: str,
    *,
    width: int = 8,
    stack: bool = False,
    threshold: float | None = None,
) -> Panel:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if threshold is not None:
        steps.append({"color": "red", "value": threshold})
    custom = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 20 if stack else 0,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "dashed" if threshold is not None else "off"},
    }
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": _targets(targets),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": custom,
                "thresholds": {"mode": "absolute", "steps": steps},
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "gridPos": {"w": width, "h": HEIGHT},
    }


def _stat(title: str, description: str, expr: str, *, healthy_when_zero: bool) -> Panel:
    """A single number: red from 1 when zero is healthy (a count of problems), else red at 0."""
    low, high = ("green", "red") if healthy_when_zero else ("red", "green")
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": _targets([(expr, title)]),
        "fieldConfig": {
            "defaults": {
                "unit": "short",
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": low, "value": None}, {"color": high, "value": 1}],
                },
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        },
        "gridPos": {"w": 4, "h": HEIGHT},
    }


def _targets(targets: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
        for i, (expr, legend) in enumerate(targets)
    ]


def _row(title: str) -> Panel:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": WIDTH, "h": 1},
    }


def _panels() -> list[Panel]:
    requests = f"dsync_ingress_requests_total{{{PROVIDER}}}"
    failed = f'dsync_ingress_requests_total{{{PROVIDER}, outcome!="accepted"}}'
    unavailable = f'dsync_ingress_requests_total{{{PROVIDER}, outcome="broker_unavailable"}}'
    events = f"dsync_worker_events_total{{{PROVIDER}}}"
    return [
        _row("Webhook ingress"),
        _timeseries(
            "Webhook requests/s by outcome",
            "Requests the ingress answered, by outcome. Only `accepted` got a 2xx.",
            [(f"sum by (outcome) (rate({requests}[{RATE}]))", "{{outcome}}")],
            "reqps",
            stack=True,
        ),
        _timeseries(
            "Webhook failure ratio",
            "Share of requests not accepted (alert DsyncWebhookFailures above 5 %), and the share "
            "answered 503 because Kafka did not acknowledge (DsyncWebhookBrokerUnavailable).",
            [
                (
                    f"sum by (provider) (rate({failed}[{RATE}]))"
                    f" / sum by (provider) (rate({requests}[{RATE}]))",
                    "not accepted {{provider}}",
                ),
                (
                    f"sum by (provider) (rate({unavailable}[{RATE}]))"
                    f" / sum by (provider) (rate({requests}[{RATE}]))",
                    "broker unavailable {{provider}}",
                ),
            ],
            "percentunit",
            threshold=0.05,
        ),
        _timeseries(
            "Broker acknowledgement p50/p99",
            "From handing a webhook's events to the producer to Kafka's acknowledgement.",
            _quantiles("dsync_ingress_broker_ack_seconds"),
            "s",
        ),
        _row("Sync latency"),
        _timeseries(
            "Sync latency p50/p99 vs budget",
            "From the ingress receiving an event to its batch committing in PostgreSQL. The dashed "
            f"line is the default budget, DSYNC_SYNC_LATENCY_BUDGET_SECONDS={BUDGET_SECONDS}.",
            _quantiles("dsync_sync_latency_seconds", "provider", PROVIDER),
            "s",
            width=12,
            threshold=BUDGET_SECONDS,
        ),
        _timeseries(
            "Event latency p99 (provider event time to committed)",
            "Includes the provider's own delivery delay and its retries.",
            _quantiles("dsync_event_latency_seconds", "provider", PROVIDER)[1:],
            "s",
            width=12,
        ),
        _timeseries(
            "Latency budget breaches",
            "Events committed later than the budget, per provider (alert "
            "DsyncSyncLatencyBudgetBreached).",
            [
                (
                    "sum by (provider) (increase("
                    f"dsync_sync_latency_budget_breaches_total{{{PROVIDER}}}[{RATE}]))",
                    "{{provider}}",
                )
            ],
            "short",
            width=12,
        ),
        _stat(
            "Degraded directories",
            "Directories whose latest events were over the budget. `dsync status` names them.",
            "max(dsync_degraded_directories)",
            healthy_when_zero=True,
        ),
        _stat(
            "Workers up",
            "Worker pods Prometheus scrapes (alert DsyncWorkerDown).",
            'sum(up{job=~".+/dsync-worker"}) or vector(0)',
            healthy_when_zero=False,
        ),
        _stat(
            "Ingress pods up",
            "Ingress pods Prometheus scrapes (alert DsyncIngressDown).",
            'sum(up{job="dsync-ingress"}) or vector(0)',
            healthy_when_zero=False,
        ),
        _row("Worker"),
        _timeseries(
            "Worker events/s by outcome",
            "`dead_lettered` events are not applied until redriven (`dsync dlq`).",
            [(f"sum by (outcome) (rate({events}[{RATE}]))", "{{outcome}}")],
            "ops",
            stack=True,
        ),
        _timeseries(
            "Batch size p50/p99",
            "Events per applied partition batch.",
            _quantiles("dsync_worker_batch_events"),
            "short",
        ),
        _timeseries(
            "Batch apply time p50/p99",
            "One partition batch's transaction.",
            _quantiles("dsync_worker_batch_seconds"),
            "s",
        ),
        _timeseries(
            "Consumer lag per partition",
            "Messages behind the end of each partition (alert DsyncConsumerLagGrowing).",
            [("max by (partition) (dsync_worker_consumer_lag)", "partition {{partition}}")],
            "short",
        ),
        _timeseries(
            "Held partitions by reason",
            "Partitions stopped until an operator decides (alert DsyncPartitionHeld): a stored "
            "offset that does not fit the log, or the dead-letter cap. `dsync offsets show`.",
            [("max by (reason) (dsync_worker_held_partitions)", "{{reason}}")],
            "short",
            threshold=1,
        ),
        _timeseries(
            "Dead letters",
            "Events dead-lettered (alert DsyncDeadLetters). `dsync dlq list` shows them.",
            [
                (
                    f"sum by (provider) (increase(dsync_dead_letters_total{{{PROVIDER}}}[{RATE}]))",
                    "{{provider}}",
                )
            ],
            "short",
            threshold=1,
        ),
        _timeseries(
            "Outbox pending",
            "Outbox rows not yet relayed to Kafka (alert DsyncOutboxBacklog above 100).",
            [("max(dsync_outbox_pending)", "pending")],
            "short",
            threshold=100,
        ),
        _row("Access changes"),
        _timeseries(
            "Deprovisions",
            "Accounts deactivated by sync.",
            [
                (
                    f"sum by (provider) (increase(dsync_deprovisions_total{{{PROVIDER}}}[{RATE}]))",
                    "{{provider}}",
                )
            ],
            "short",
        ),
        _timeseries(
            "Credentials revoked by kind",
            "Sessions, API keys and device tokens revoked because access was removed.",
            [
                (
                    f"sum by (kind) (increase(dsync_credentials_revoked_total[{RATE}]))",
                    "{{kind}}",
                )
            ],
            "short",
        ),
        {
            "type": "text",
            "title": "Last webhook per connection",
            "options": {
                "mode": "markdown",
                "content": (
                    "Metrics carry no directory or connection label: there are too many of them. "
                    "`dsync status` (or `GET /diagnostics` on a worker's admin port) prints, per "
                    "directory, the last webhook received, the last event applied, p50/p99 latency "
                    "over 5 minutes, dead letters and whether it is degraded."
                ),
            },
            "gridPos": {"w": 8, "h": HEIGHT},
        },
        *_puller_panels(),
        *_scim_panels(),
    ]


# DSYNC_SCIM_COMMIT_TIMEOUT_SECONDS' default: a commit wait past it is answered 503.
SCIM_COMMIT_TIMEOUT_SECONDS = 10
PULLERS = 'up{job=~".+/dsync-puller"}'  # the PodMonitor's job, as in DsyncPullerDown


def _puller_panels() -> list[Panel]:
    """Appended after the older rows, so their panel ids stay what they were."""
    requests = f"dsync_pull_requests_total{{{PROVIDER}}}"
    return [
        _row("WorkOS puller"),
        _timeseries(
            "Puller requests/s by status",
            "Answers of the provider's Events API (`network`: none). 429 and 5xx above 10 % "
            "for 10 minutes: DsyncPullRequestsFailing. The holder asks at least once a second.",
            [(f"sum by (status) (rate({requests}[{RATE}]))", "{{status}}")],
            "reqps",
            width=6,
            stack=True,
        ),
        _timeseries(
            "Pulled events/s by outcome",
            "Events produced to the events topic, and those refused (stored in "
            "dsync_internal.pull_refusals).",
            [
                (
                    f"sum by (outcome) (rate(dsync_pull_events_total{{{PROVIDER}}}[{RATE}]))",
                    "{{outcome}}",
                )
            ],
            "ops",
            width=6,
            stack=True,
        ),
        _timeseries(
            "Cursor lag",
            "Now minus the provider's time of the cursor's event. A quiet directory grows it "
            "without being late; DsyncPullCursorLagging fires only while events are produced.",
            [
                (
                    "time() - max by (provider, account) "
                    f"(dsync_pull_cursor_event_time_seconds{{{PROVIDER}}})",
                    "{{provider}} {{account}}",
                )
            ],
            "s",
            width=6,
            threshold=1800,
        ),
        _timeseries(
            "Pullers up and pulling",
            "Puller pods scraped, and those sending requests (holding the advisory lock): one "
            "per account. Up but none pulling: DsyncPullerNotPulling.",
            [
                (f"sum({PULLERS})", "up"),
                (
                    f"count(sum by (instance) (rate(dsync_pull_requests_total[{RATE}])) > 0)",
                    "pulling",
                ),
            ],
            "short",
            width=6,
        ),
    ]


def _scim_panels() -> list[Panel]:
    requests = "dsync_scim_requests_total"
    return [
        _row("SCIM server"),
        _timeseries(
            "SCIM answers/s by status",
            "Answers under /scim/v2/directories/ (probes and /metrics not counted). A 5xx "
            "other than 503 is a bug: DsyncScimServerErrors.",
            [(f"sum by (status) (rate({requests}[{RATE}]))", "{{status}}")],
            "reqps",
            stack=True,
        ),
        _timeseries(
            "SCIM writes answered 503 by reason",
            "broker_unavailable: Kafka did not acknowledge; commit_timeout: the worker did not "
            "commit in time (DsyncScimUnavailable).",
            [
                (
                    f"sum by (reason) (increase(dsync_scim_unavailable_total[{RATE}]))",
                    "{{reason}}",
                )
            ],
            "short",
            stack=True,
        ),
        _timeseries(
            "SCIM commit wait p50/p99",
            "From the write's event acknowledged to the worker's decision read back; the "
            "dashed line is the commit timeout (10 s by default), past which writes get 503.",
            _quantiles("dsync_scim_commit_wait_seconds"),
            "s",
            threshold=SCIM_COMMIT_TIMEOUT_SECONDS,
        ),
    ]


def _layout(panels: list[Panel]) -> list[Panel]:
    """Numbers the panels and places them left to right, wrapping at the grid's width."""
    x = y = row_height = 0
    for number, panel in enumerate(panels, start=1):
        grid = panel["gridPos"]
        if panel["type"] == "row" or x + grid["w"] > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        panel["id"] = number
        panel["gridPos"] = {"h": grid["h"], "w": grid["w"], "x": x, "y": y}
        x, row_height = x + grid["w"], max(row_height, grid["h"])
        if panel["type"] == "row":
            x, y, row_height = 0, y + grid["h"], 0
    return panels


def _variables() -> list[dict[str, Any]]:
    providers = "label_values(dsync_ingress_requests_total, provider)"
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        },
        {
            "name": "provider",
            "label": "Provider",
            "type": "query",
            "datasource": DATASOURCE,
            "definition": providers,
            "query": {"query": providers, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {},
            "hide": 0,
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "options": [],
        },
    ]


def dashboard() -> dict[str, Any]:
    return {
        "uid": "dsync",
        "title": "dsync",
        "description": "Directory sync: webhooks in, events applied, latency budget, lag, "
        "dead letters, the WorkOS puller and the SCIM server. Generated by "
        "deploy/grafana/dashboard.py.",
        "tags": ["dsync"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": _variables()},
        "panels": _layout(_panels()),
    }


def render() -> str:
    """The dashboard's JSON text, as checked in."""
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.name}")
