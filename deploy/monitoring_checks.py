"""Offline checks of the Grafana dashboard and the Prometheus alert rules, for deploy/validate.py.

- Every expression parses. The parser is promql-parser (Python bindings of the Rust PromQL
  parser GreptimeDB maintains). Grafana's variables are replaced by sample values first.
- Every metric an expression names is in dsync/metrics.py's `MetricName`, read with `ast` (the
  validation venv does not install dsync). A histogram's `_bucket`, `_sum` and `_count` series
  and Prometheus' own `up` are allowed too.
- The dashboard: JSON, unique panel ids, a query in every target, the data source taken from
  the `datasource` variable, and the checked-in file is what deploy/grafana/dashboard.py writes.
- The rules: the fields Alertmanager and the runbooks rely on, valid durations, a known
  severity, runbook anchors that docs/operations.md has, and a PrometheusRule that is what
  deploy/prometheus/prometheusrule.py writes (so both hold the same groups).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parent.parent
METRICS_MODULE = ROOT / "dsync" / "metrics.py"
OPERATIONS = ROOT / "docs" / "operations.md"
DASHBOARD = ROOT / "deploy" / "grafana" / "dsync.json"
DASHBOARD_GENERATOR = ROOT / "deploy" / "grafana" / "dashboard.py"
RULES = ROOT / "deploy" / "prometheus" / "dsync-alerts.yaml"
PROMETHEUS_RULE = ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml"
RULE_GENERATOR = ROOT / "deploy" / "prometheus" / "prometheusrule.py"

HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
PROMETHEUS_METRICS = frozenset({"up"})
SEVERITIES = frozenset({"critical", "warning", "info"})
# Grafana's built-in interval variables, replaced by a duration so that the query parses.
GRAFANA_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
RUNBOOK = re.compile(r"^docs/operations\.md#([a-z0-9-]+)$")
ALERT_NAME = re.compile(r"^Dsync[A-Z][A-Za-z0-9]*$")

Doc = dict[str, Any]


def check_monitoring() -> Iterator[str]:
    known = metric_names(METRICS_MODULE.read_text())
    if not known:
        yield f"{_rel(METRICS_MODULE)}: found no MetricName Literal"
        return
    yield from check_dashboard(DASHBOARD.read_text(), known)
    yield from _generated(DASHBOARD, DASHBOARD_GENERATOR)
    yield from check_rules(RULES.read_text(), known, _anchors(OPERATIONS.read_text()))
    yield from _generated(PROMETHEUS_RULE, RULE_GENERATOR)
    rules = yaml.safe_load(RULES.read_text()) or {}
    operator = yaml.safe_load(PROMETHEUS_RULE.read_text()) or {}
    if rules.get("groups") != (operator.get("spec") or {}).get("groups"):
        yield f"{_rel(PROMETHEUS_RULE)}: spec.groups differ from {_rel(RULES)}"


# --- metric names and expressions -----------------------------------------------------------


def metric_names(source: str) -> frozenset[str]:
    """The strings of the `MetricName = Literal[...]` assignment in dsync/metrics.py."""
    for node in ast.walk(ast.parse(source)):
        target, value = _assignment(node)
        if target != "MetricName" or not isinstance(value, ast.Subscript):
            continue
        items = value.slice.elts if isinstance(value.slice, ast.Tuple) else [value.slice]
        return frozenset(
            item.value
            for item in items
            if isinstance(item, ast.Constant) and isinstance(item.value, str)
        )
    return frozenset()


def _assignment(node: ast.AST) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return (target.id if isinstance(target, ast.Name) else None), node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def check_expr(expr: str, known: frozenset[str]) -> Iterator[str]:
    """Problems with one PromQL expression: a parse error, or a metric dsync does not export."""
    try:
        parsed = promql_parser.parse(expr)
    except ValueError as exc:
        yield f"PromQL does not parse ({exc}): {' '.join(expr.split())}"
        return
    selectors: list[Any] = []
    promql_parser.walk(
        parsed,
        pre_visit=lambda node: (
            selectors.append(node) if isinstance(node, promql_parser.VectorSelector) else None
        ),
    )
    for selector in selectors:
        name = selector.name or _name_matcher(selector.matchers)
        if name is None:
            yield f"a selector without a metric name: {selector}"
        elif not _known_metric(name, known):
            yield f"metric {name!r} is not in dsync/metrics.py's MetricName"


def _name_matcher(matchers: Any) -> str | None:
    groups = [matchers.matchers, *matchers.or_matchers]
    for matcher in (m for group in groups for m in group):
        if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal:
            return str(matcher.value)
    return None


def _known_metric(name: str, known: frozenset[str]) -> bool:
    if name in known or name in PROMETHEUS_METRICS:
        return True
    return any(name.endswith(s) and name.removesuffix(s) in known for s in HISTOGRAM_SERIES)


# --- the dashboard ---------------------------------------------------------------------------


def check_dashboard(text: str, known: frozenset[str]) -> Iterator[str]:
    where = _rel(DASHBOARD)
    try:
        dashboard: Doc = json.loads(text)
    except json.JSONDecodeError as exc:
        yield f"{where}: not JSON: {exc}"
        return
    for key in ("uid", "title", "schemaVersion", "panels"):
        if key not in dashboard:
            yield f"{where}: no {key!r}"
    variables = {v.get("name"): v for v in (dashboard.get("templating") or {}).get("list", [])}
    if (variables.get("datasource") or {}).get("query") != "prometheus":
        yield f"{where}: needs a `datasource` variable of type prometheus"
    for name, variable in variables.items():
        query = variable.get("definition") or ""
        for metric in re.findall(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,", query):
            if not _known_metric(metric, known):
                yield f"{where}: variable {name}: metric {metric!r} is not in MetricName"
    ids: set[object] = set()
    for panel in _all_panels(dashboard.get("panels", [])):
        at = f"{where}: panel {panel.get('id')} {panel.get('title')!r}"
        if panel.get("id") in ids:
            yield f"{at}: duplicate panel id"
        ids.add(panel.get("id"))
        targets = panel.get("targets", [])
        if targets and panel.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            yield f"{at}: datasource must be the ${{datasource}} variable"
        for target in targets:
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                yield f"{at}: target {target.get('refId')} has no expr"
                continue
            sample, unknown = _substitute(expr, set(variables))
            yield from (f"{at}: unknown variable ${name}" for name in unknown)
            yield from (f"{at}: {problem}" for problem in check_expr(sample, known))


def _all_panels(panels: list[Doc]) -> Iterator[Doc]:
    """Top-level panels and those folded into collapsed rows."""
    for panel in panels:
        yield panel
        yield from _all_panels(panel.get("panels", []))


def _substitute(expr: str, defined: set[str]) -> tuple[str, list[str]]:
    """The expression with Grafana's variables replaced by sample values, and unknown names."""
    unknown: list[str] = []

    def sample(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in GRAFANA_DURATIONS:
            return GRAFANA_DURATIONS[name]
        if name not in defined:
            unknown.append(name)
        return ".*"

    return GRAFANA_VARIABLE.sub(sample, expr), unknown


# --- the alert rules -------------------------------------------------------------------------


def check_rules(text: str, known: frozenset[str], anchors: set[str]) -> Iterator[str]:
    where = _rel(RULES)
    groups = (yaml.safe_load(text) or {}).get("groups")
    if not isinstance(groups, list) or not groups:
        yield f"{where}: needs a non-empty `groups:` list"
        return
    seen: set[str] = set()
    for group in groups:
        rules = group.get("rules")
        if not group.get("name") or not isinstance(rules, list) or not rules:
            yield f"{where}: group {group.get('name')!r} needs a name and rules"
            continue
        for rule in rules:
            name = str(rule.get("alert"))
            at = f"{where}: {group['name']}: {name}"
            if not ALERT_NAME.match(name):
                yield f"{at}: alert must be a CamelCase name starting with Dsync"
            if name in seen:
                yield f"{at}: duplicate alert"
            seen.add(name)
            yield from (f"{at}: {p}" for p in _rule_problems(rule, known, anchors))


def _rule_problems(rule: Doc, known: frozenset[str], anchors: set[str]) -> Iterator[str]:
    labels, notes = rule.get("labels") or {}, rule.get("annotations") or {}
    for field, value in (
        ("expr", rule.get("expr")),
        ("for", rule.get("for")),
        ("labels.severity", labels.get("severity")),
        ("annotations.summary", notes.get("summary")),
        ("annotations.description", notes.get("description")),
        ("annotations.runbook_url", notes.get("runbook_url")),
    ):
        if not isinstance(value, str) or not value.strip():
            yield f"{field} is missing"
    if isinstance(rule.get("expr"), str):
        yield from check_expr(rule["expr"], known)
    if isinstance(rule.get("for"), str):
        try:
            promql_parser.parse_duration(rule["for"])
        except ValueError as exc:
            yield f"for: {exc}"
    if "severity" in labels and labels["severity"] not in SEVERITIES:
        yield f"labels.severity must be one of {', '.join(sorted(SEVERITIES))}"
    runbook = RUNBOOK.match(str(notes.get("runbook_url")))
    if runbook is None:
        yield "annotations.runbook_url must be docs/operations.md#<anchor>"
    elif runbook.group(1) not in anchors:
        yield f"annotations.runbook_url: docs/operations.md has no heading #{runbook.group(1)}"
    for key, value in notes.items():
        if str(value).count("{{") != str(value).count("}}"):
            yield f"annotations.{key}: unbalanced {{{{ }}}}"


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (outside code fences)."""
    anchors: set[str] = set()
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            text = re.sub(r"[^\w\- ]", "", heading.group(1).lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


# --- generated files -------------------------------------------------------------------------


def _generated(target: Path, generator: Path) -> Iterator[str]:
    expected = _load(generator).render()
    if target.read_text() != expected:
        yield f"{_rel(target)}: not what {_rel(generator)} writes; run python3 {_rel(generator)}"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))
