#!/usr/bin/env python3
"""Writes deploy/k8s/base/prometheusrule.yaml from deploy/prometheus/dsync-alerts.yaml.

The rule file is the one source of the alerts. The PrometheusRule carries its `groups:` text
verbatim (comments and block scalars included) under `spec:`, so the two cannot disagree;
deploy/validate.py fails when the checked-in PrometheusRule is not what `render()` returns.

    python3 deploy/prometheus/prometheusrule.py

Standard library only: it runs with any Python 3.11, no venv needed.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
RULES = ROOT / "deploy" / "prometheus" / "dsync-alerts.yaml"
TARGET = ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/dsync-alerts.yaml by deploy/prometheus/prometheusrule.py.
# Do not edit: change the rule file and run `python3 deploy/prometheus/prometheusrule.py`.
#
# The alerts as a Prometheus Operator PrometheusRule. Like the ServiceMonitor and the
# PodMonitor, it needs the monitoring.coreos.com CRDs. If your Prometheus selects rules by
# label (ruleSelector), add that label in your overlay.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: dsync
  labels:
    app.kubernetes.io/name: dsync
    app.kubernetes.io/component: alerts
spec:
"""


def render() -> str:
    """The PrometheusRule's text for the current rule file."""
    lines = RULES.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = [f"  {line}" if line else "" for line in lines[start:]]
    return HEADER + "\n".join(body) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
