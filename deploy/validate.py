#!/usr/bin/env python3
"""Offline checks of deploy/ for CI. They need no container engine, no cluster and no network.

1. Dockerfile: hadolint. Also checks that the files its COPY lines name exist and that they
   cover every package pyproject.toml ships.
2. compose.yaml: validated against the compose-spec JSON schema (check-jsonschema's vendored
   copy). Also checks the depends_on targets, that no secret is written inline, that the
   services reading a provider's API (`pull`, `reconcile`) are opt-in (under a profile),
   and that a reconcile service repeats (`--every`).
3. Kubernetes: `kubectl kustomize` renders every kustomization. Each object is then validated
   against the Kubernetes JSON schemas (kubernetes-validate, strict: unknown fields fail) for the
   oldest and the newest Kubernetes versions listed below. The ServiceMonitor, the PodMonitor
   and the PrometheusRule are validated against the prometheus-operator models (cloudcoil),
   also rejecting unknown fields. Last come the references between objects and the pod
   security settings, which no schema can see.
4. Commands (deploy/command_checks.py): every container of the dsync image (compose, the
   Kubernetes base, components and overlays, the Dockerfile's CMD) runs a command that
   `dsync --help` lists.
5. Monitoring (deploy/monitoring_checks.py): the Grafana dashboard and the Prometheus alert
   rules. Every PromQL expression parses (promql-parser) and names only metrics from
   dsync/metrics.py; the generated files (dashboard JSON, PrometheusRule) are up to date.

The tools come from deploy/requirements-validate.txt, installed in a venv of their own:

    python3 -m venv build/deploy-venv
    build/deploy-venv/bin/pip install -r deploy/requirements-validate.txt
    build/deploy-venv/bin/python deploy/validate.py

Exits 0 when every check passes, 1 on any problem, and 2 when a tool is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
REQUIREMENTS = ROOT / "deploy" / "requirements-validate.txt"
KUSTOMIZATIONS = (
    ROOT / "deploy" / "k8s" / "base",
    ROOT / "deploy" / "k8s" / "overlays" / "example",
)
COMPONENTS = ROOT / "deploy" / "k8s" / "components"
# The oldest and the newest Kubernetes versions whose schemas every object must satisfy.
KUBERNETES_VERSIONS = ("1.25", "1.37")
# Environment variables whose value must never be written into a file.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|DATABASE_URL|PRIVATE_KEY", re.IGNORECASE)
# The password in a URL such as postgresql://user:password@host/db.
URL_PASSWORD = re.compile(r"://[^/:@]*:([^@]*)@")
POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}

Doc = dict[str, Any]


class MissingToolError(Exception):
    """A tool from deploy/requirements-validate.txt is not installed."""


def main() -> int:
    try:
        tools = {name: _tool(name) for name in ("kubectl", "hadolint", "check-jsonschema")}
    except MissingToolError as exc:
        print(f"deploy/validate.py: {exc} is not installed (see deploy/requirements-validate.txt)")
        return 2
    try:
        import command_checks  # beside this file
        import monitoring_checks as monitoring  # beside this file; it imports promql_parser
    except ImportError as exc:
        print(f"deploy/validate.py: {exc.name} is not installed (see {_rel(REQUIREMENTS)})")
        return 2
    print(f"== tools: {_versions(tools)}")
    problems: list[str] = []
    sections = (
        ("Dockerfile: hadolint, COPY sources", lambda: check_dockerfile(tools["hadolint"])),
        ("compose.yaml: compose-spec schema, references, secrets", lambda: check_compose(tools)),
        (
            "kubernetes: kustomize render, schemas "
            + " and ".join(KUBERNETES_VERSIONS)
            + ", references, security",
            lambda: check_kubernetes(tools["kubectl"]),
        ),
        ("commands: every container's command is in `dsync --help`", command_checks.check_commands),
        (
            "monitoring: dashboard, alert rules, PromQL, metric names, generated files",
            monitoring.check_monitoring,
        ),
    )
    for title, check in sections:
        print(f"== {title}")
        found = list(check())
        for line in found:
            print(f"   FAIL {line}")
        if not found:
            print("   ok")
        problems += found
    if problems:
        print(f"deploy/validate.py: {len(problems)} problem(s)")
        return 1
    print("deploy/validate.py: every check passed")
    return 0


# --- tools -----------------------------------------------------------------------------------


def _tool(name: str) -> str:
    """The tool installed beside this interpreter (the validation venv), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise MissingToolError(name)
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # The arguments are this script's own constants and paths, never outside input.
    return subprocess.run(args, capture_output=True, text=True, check=False, cwd=ROOT)  # noqa: S603


def _versions(tools: dict[str, str]) -> str:
    from importlib.metadata import version

    import kubernetes_validate

    def said(*args: str) -> str:
        return " ".join(_run(*args).stdout.split())

    return "; ".join(
        (
            said(tools["kubectl"], "version", "--client"),
            said(tools["hadolint"], "--version"),
            said(tools["check-jsonschema"], "--version"),
            f"kubernetes-validate {kubernetes_validate.__version__}",
            f"promql-parser {version('promql-parser')}",
        )
    )


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- 1. Dockerfile ---------------------------------------------------------------------------


def check_dockerfile(hadolint: str) -> Iterator[str]:
    where = _rel(DOCKERFILE)
    lint = _run(hadolint, "--no-color", "--failure-threshold", "style", where)
    if lint.returncode != 0:
        output = (lint.stdout + lint.stderr).strip() or f"hadolint exited {lint.returncode}"
        yield from (f"hadolint {line}" for line in output.splitlines())
    copied: set[str] = set()
    for instruction in _instructions(DOCKERFILE.read_text()):
        words = instruction.split()
        if words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for source in [w for w in words[1:-1] if not w.startswith("--")]:
            name = source.rstrip("/")
            copied.add(name)
            if not (ROOT / name).exists():
                yield f"{where}: COPY {source}: no such file in the build context"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = project["tool"]["setuptools"]["packages"]["find"]
    for pattern in find.get("include", []):
        package = pattern.rstrip("*").rstrip(".")
        if package not in copied:
            yield f"{where}: pyproject.toml ships package {package!r}, but no COPY includes it"
    readme = project["project"].get("readme")
    if isinstance(readme, str) and readme not in copied:
        yield f"{where}: the build reads {readme} (project.readme), but no COPY includes it"


def _instructions(text: str) -> Iterator[str]:
    """Dockerfile instructions, with continuation lines joined and comments dropped."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending.strip():
        yield pending


# --- 2. compose ------------------------------------------------------------------------------


def check_compose(tools: dict[str, str]) -> Iterator[str]:
    where = _rel(COMPOSE)
    schema = _run(tools["check-jsonschema"], "--builtin-schema", "vendor.compose-spec", where)
    if schema.returncode != 0:
        output = (schema.stdout + schema.stderr).strip()
        header = "Schema validation errors were encountered."
        lines = [line.strip() for line in output.splitlines()]
        yield from (f"compose-spec {line}" for line in lines if line and line != header)
        return
    services: dict[str, Doc] = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        at = f"{where}: services.{name}"
        depends = service.get("depends_on", {})
        if isinstance(depends, list):
            depends = {target: {"condition": "service_started"} for target in depends}
        for target, spec in depends.items():
            condition = spec.get("condition", "service_started")
            other = services.get(target)
            if other is None:
                yield f"{at}.depends_on: no service {target!r}"
            elif condition == "service_healthy" and not _compose_healthcheck(other):
                yield f"{at}.depends_on.{target}: service_healthy, but {target} has no healthcheck"
            elif condition == "service_completed_successfully" and other.get("restart") not in (
                None,
                "no",
                "on-failure",
            ):
                yield f"{at}.depends_on.{target}: a one-shot must not restart after it succeeds"
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.partition("=")[::2] for item in environment)
        for key, value in environment.items():
            text = str(value)
            password = URL_PASSWORD.search(text)
            if password is not None and not _interpolated(password.group(1)):
                yield f"{at}.environment.{key}: the URL's password must be a ${{VARIABLE}}"
            elif password is None and SECRET_NAME.search(key) and not _interpolated(text):
                yield f"{at}.environment.{key}: a secret must come from a ${{VARIABLE}}, not inline"
        image = service.get("image")
        if image is not None and not _pinned(image):
            yield f"{at}.image: {image!r} has no tag or is :latest"
        yield from _compose_command_problems(at, service)


# Commands that need a provider's credentials: a plain `docker compose up` must not start them.
OPT_IN_COMMANDS = frozenset({"pull", "reconcile"})


def _compose_command_problems(at: str, service: Doc) -> Iterator[str]:
    command = [str(part) for part in service.get("command") or []]
    if command[:1] and command[0] in OPT_IN_COMMANDS and not service.get("profiles"):
        yield f"{at}: `dsync {command[0]}` needs provider credentials: put it under a profile"
    if command[:1] == ["reconcile"] and "--every" not in command:
        yield f"{at}: a reconcile service must repeat (--every); compose restarts a one-shot run"


def _interpolated(text: str) -> bool:
    return text.startswith("${") and text.endswith("}") and text.count("${") == 1


def _compose_healthcheck(service: Doc) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest"


# --- 3. Kubernetes ---------------------------------------------------------------------------


def check_kubernetes(kubectl: str) -> Iterator[str]:
    yield from _unrendered_components()
    for directory in KUSTOMIZATIONS:
        where = _rel(directory)
        render = _run(kubectl, "kustomize", where)
        if render.returncode != 0:
            yield f"{where}: kubectl kustomize failed: {render.stderr.strip()}"
            continue
        docs: list[Doc] = [d for d in yaml.safe_load_all(render.stdout) if d]
        if not docs:
            yield f"{where}: renders no objects"
        for doc in docs:
            yield from (f"{where}: {_name(doc)}: {p}" for p in _schema_problems(doc))
        yield from (f"{where}: {p}" for p in _reference_problems(docs))
        for doc in docs:
            yield from (f"{where}: {_name(doc)}: {p}" for p in _pod_problems(doc))


def _unrendered_components() -> Iterator[str]:
    """A component only renders through an overlay: one no overlay here uses goes unchecked."""
    used: set[Path] = set()
    for directory in KUSTOMIZATIONS:
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        used |= {(directory / c).resolve() for c in kustomization.get("components", [])}
    for component in sorted(COMPONENTS.glob("*/kustomization.yaml")):
        if component.parent.resolve() not in used:
            yield f"{_rel(component.parent)}: no checked overlay uses it, so nothing validates it"


def _name(doc: Doc) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def _schema_problems(doc: Doc) -> Iterator[str]:
    import kubernetes_validate.utils as kv

    model = _custom_resource_models().get((doc.get("apiVersion"), doc.get("kind")))
    if model is not None:
        yield from _model_problems(model, doc)
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(top level)"
            yield f"Kubernetes {version} schema: {path}: {exc.message}"
        except kv.SchemaNotFoundError as exc:
            yield f"no schema: {exc.message}"


def _custom_resource_models() -> dict[tuple[str, str], Any]:
    from cloudcoil.models.prometheus_operator import v1 as monitoring

    return {
        ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring.ServiceMonitor,
        ("monitoring.coreos.com/v1", "PodMonitor"): monitoring.PodMonitor,
        ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
    }


def _model_problems(model: Any, doc: Doc) -> Iterator[str]:
    from pydantic import ValidationError

    try:
        parsed = model.model_validate(doc)
    except ValidationError as exc:
        for error in exc.errors():
            path = ".".join(str(p) for p in error["loc"])
            yield f"{doc['apiVersion']} model: {path}: {error['msg']}"
        return
    # The model ignores unknown fields. Every field the document has must survive a round trip.
    kept = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    for path in _unknown_fields(doc, kept, ""):
        yield f"{doc['apiVersion']} model: {path}: unknown field"


def _unknown_fields(given: Any, kept: Any, path: str) -> Iterator[str]:
    if isinstance(given, dict) and isinstance(kept, dict):
        for key, value in given.items():
            if key not in kept:
                yield f"{path}.{key}".lstrip(".")
            else:
                yield from _unknown_fields(value, kept[key], f"{path}.{key}")
    elif isinstance(given, list) and isinstance(kept, list):
        for index, (value, other) in enumerate(zip(given, kept, strict=False)):
            yield from _unknown_fields(value, other, f"{path}[{index}]")


def _pod_template(doc: Doc) -> Doc | None:
    if doc.get("kind") not in POD_OWNERS:
        return None
    template: Doc = (doc.get("spec") or {}).get("template") or {}
    return template


def _matches(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def _reference_problems(docs: list[Doc]) -> Iterator[str]:
    by_kind: dict[str, list[Doc]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    config_maps = {d["metadata"]["name"] for d in by_kind.get("ConfigMap", [])}
    pods = [(d, t) for d in docs if (t := _pod_template(d)) is not None]
    for doc in by_kind.get("Secret", []):
        yield f"{_name(doc)}: Secrets must not be in the manifests; create them in the cluster"
    for owner, template in pods:
        for container in (template.get("spec") or {}).get("containers", []):
            for ref in container.get("envFrom", []):
                name = (ref.get("configMapRef") or {}).get("name")
                if name is not None and name not in config_maps:
                    yield f"{_name(owner)}: envFrom names ConfigMap {name!r}, which is not rendered"
    for service in by_kind.get("Service", []):
        selector = service["spec"].get("selector")
        targets = [t for _, t in pods if _matches(selector, t["metadata"].get("labels"))]
        if not targets:
            yield f"{_name(service)}: its selector matches no pod template"
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort")
            if isinstance(target, str) and not any(target in _port_names(t) for t in targets):
                yield f"{_name(service)}: targetPort {target!r} is no named containerPort"
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        if not any(d["metadata"]["name"] == ref["name"] for d in by_kind.get(ref["kind"], [])):
            yield f"{_name(hpa)}: scaleTargetRef {ref['kind']}/{ref['name']} is not rendered"
    for pdb in by_kind.get("PodDisruptionBudget", []):
        selector = pdb["spec"]["selector"].get("matchLabels")
        if not any(_matches(selector, t["metadata"].get("labels")) for _, t in pods):
            yield f"{_name(pdb)}: its selector matches no pod template"
    for monitor in by_kind.get("ServiceMonitor", []):
        selector = monitor["spec"]["selector"].get("matchLabels")
        services = [
            s for s in by_kind.get("Service", []) if _matches(selector, s["metadata"].get("labels"))
        ]
        if not services:
            yield f"{_name(monitor)}: its selector matches no Service"
        for endpoint in monitor["spec"].get("endpoints", []):
            port = endpoint.get("port")
            if port and not any(
                port == p.get("name") for s in services for p in s["spec"]["ports"]
            ):
                yield f"{_name(monitor)}: endpoint port {port!r} is no port of a matching Service"

    for monitor in by_kind.get("PodMonitor", []):
        selector = monitor["spec"]["selector"].get("matchLabels")
        targets = [t for _, t in pods if _matches(selector, t["metadata"].get("labels"))]
        if not targets:
            yield f"{_name(monitor)}: its selector matches no pod template"
        for endpoint in monitor["spec"].get("podMetricsEndpoints", []):
            port = endpoint.get("port")
            if port and not any(port in _port_names(t) for t in targets):
                yield f"{_name(monitor)}: endpoint port {port!r} is no named containerPort"


def _port_names(template: Doc) -> set[str]:
    containers = (template.get("spec") or {}).get("containers", [])
    return {p["name"] for c in containers for p in c.get("ports", []) if "name" in p}


def _pod_problems(doc: Doc) -> Iterator[str]:
    template = _pod_template(doc)
    if template is None:
        return
    spec = template.get("spec") or {}
    if spec.get("enableServiceLinks") is not False:
        yield "enableServiceLinks must be false (service links inject DSYNC_INGRESS_PORT=tcp://…)"
    if spec.get("automountServiceAccountToken") is not False:
        yield "automountServiceAccountToken must be false (dsync never calls the API server)"
    pod_security = spec.get("securityContext") or {}
    names = _port_names(template)
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        at = f"container {container.get('name')}"
        security = container.get("securityContext") or {}
        if not security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
            yield f"{at}: runAsNonRoot must be true"
        if security.get("readOnlyRootFilesystem") is not True:
            yield f"{at}: readOnlyRootFilesystem must be true"
        if security.get("allowPrivilegeEscalation") is not False:
            yield f"{at}: allowPrivilegeEscalation must be false"
        if "ALL" not in (security.get("capabilities") or {}).get("drop", []):
            yield f"{at}: capabilities must drop ALL"
        resources = container.get("resources") or {}
        for kind, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
            missing = [k for k in keys if k not in (resources.get(kind) or {})]
            if missing:
                yield f"{at}: resources.{kind} needs {', '.join(missing)}"
        image = str(container.get("image", ""))
        if not _pinned(image):
            yield f"{at}: image {image!r} has no tag or is :latest"
        for variable in container.get("env", []):
            if "value" in variable and SECRET_NAME.search(variable["name"]):
                yield f"{at}: {variable['name']} must come from a secretKeyRef, not a value"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
            if isinstance(port, str) and port not in names:
                yield f"{at}: {probe} port {port!r} is no named containerPort"


if __name__ == "__main__":
    sys.exit(main())
