"""What the registry test checks, as functions of a registry, so a test can hand them a
registry with a toy provider (or without a real one) and see what they report.

A provider's parts are found by name: `webhook_ingress.<source>.verify` when it has a
webhook, `worker.mappers.<source>.commands` always (every source's envelopes reach the
worker), `reconcile.<source>.open_reader` when it has list APIs, and a Settings field for
its webhook secrets."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType

from dsync.settings import Secrets, Settings
from schemas.providers import ProviderSpec
from webhook_ingress.verification import Verify

# (package, the attribute that makes a module of it a provider's part, who needs it)
LAYERS: tuple[tuple[str, str, Callable[[ProviderSpec], bool]], ...] = (
    ("webhook_ingress", "verify", lambda spec: spec.webhook is not None),
    ("worker.mappers", "commands", lambda spec: True),
    ("reconcile", "open_reader", lambda spec: spec.list_api),
)
_VERIFY_PARAMETERS = list(inspect.signature(Verify.__call__).parameters)[1:]


def missing_parts(providers: Sequence[ProviderSpec]) -> list[str]:
    """Each part a registered provider needs and does not have, as `<source>: <why>`."""
    problems: list[str] = []
    for spec in providers:
        for package, attribute, needed_by in LAYERS:
            if needed_by(spec):
                problem = _part_problem(f"{package}.{spec.source}", attribute)
                problems += [f"{spec.source}: {problem}"] if problem else []
        problems += [f"{spec.source}: {p}" for p in _webhook_problems(spec)]
    return problems


def unregistered_parts(providers: Sequence[ProviderSpec]) -> list[str]:
    """Each provider part in a layer whose provider is not registered (or has no webhook,
    for a verifier): a leftover, or a provider someone forgot to register."""
    registered = {
        attribute: {spec.source for spec in providers if needed_by(spec)}
        for _package, attribute, needed_by in LAYERS
    }
    found = [
        f"{module.__name__}.{attribute}"
        for package, attribute, _needed_by in LAYERS
        for module in _modules(package)
        if callable(getattr(module, attribute, None))
        and module.__name__.rpartition(".")[2] not in registered[attribute]
    ]
    settings = {
        f"Settings.{name}" for name in Settings.model_fields if name.endswith("_webhook_secrets")
    } - {f"Settings.{s.webhook.secrets_setting}" for s in providers if s.webhook}
    return found + sorted(settings)


def _part_problem(module_name: str, attribute: str) -> str | None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return f"no module {module_name}"
    part = getattr(module, attribute, None)
    if not callable(part):
        return f"{module_name} has no {attribute}"
    if attribute == "verify" and list(inspect.signature(part).parameters) != _VERIFY_PARAMETERS:
        return f"{module_name}.verify does not take {_VERIFY_PARAMETERS}"
    return None


def _webhook_problems(spec: ProviderSpec) -> Iterable[str]:
    if spec.webhook is None:
        return
    if spec.route is None:
        yield "has a webhook but no route"
    field = Settings.model_fields.get(spec.webhook.secrets_setting)
    if field is None:
        yield f"no Settings field {spec.webhook.secrets_setting}"
    elif field.annotation != Secrets:
        yield f"Settings.{spec.webhook.secrets_setting} is not Secrets"


def _modules(package_name: str) -> Iterable[ModuleType]:
    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(package.__path__):
        yield importlib.import_module(f"{package_name}.{info.name}")
