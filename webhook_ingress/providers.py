"""The providers the ingress serves: every registered provider with a webhook
(`schemas.providers`), its secrets, and its verifier, found by name in
`webhook_ingress.<source>` (that module's `verify`). The ingress holds no list of its own."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from dsync.settings import Settings
from schemas.providers import PROVIDERS, ProviderSpec, Source
from schemas.routed import Route
from webhook_ingress.verification import Verify


@dataclass(frozen=True, slots=True)
class Provider:
    source: Source
    secrets: tuple[str, ...]
    verify: Verify
    route: Route


def verifier(source: str) -> Verify:
    """The `verify` of `webhook_ingress.<source>`; ImportError or AttributeError when the
    provider has no verifier (the registry test fails first)."""
    found: Verify = importlib.import_module(f"webhook_ingress.{source}").verify
    return found


def configured(
    settings: Settings, providers: Sequence[ProviderSpec] = PROVIDERS
) -> dict[Source, Provider]:
    """Every provider with a webhook, with its secrets (none: the endpoint answers 404).
    A provider without a webhook gets no endpoint: its URL answers 404 like any unknown."""
    return {spec.source: _provider(spec, settings) for spec in providers if spec.webhook}


def _provider(spec: ProviderSpec, settings: Settings) -> Provider:
    if spec.webhook is None or spec.route is None:
        raise ValueError(f"{spec.source} has no webhook or no route")
    secrets = settings.webhook_secrets(spec.webhook.secrets_setting)
    return Provider(spec.source, secrets, verifier(spec.source), spec.route)
