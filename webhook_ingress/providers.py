"""The providers the ingress accepts: each is a verifier and a router. A new provider
plugs in here (and with a mapper in worker/mappers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

from dsync.settings import Settings
from schemas.envelope import Source
from webhook_ingress import polis, stytch, workos
from webhook_ingress.routing import Routed, route_polis, route_stytch, route_workos
from webhook_ingress.verification import Verified


class Verify(Protocol):
    def __call__(
        self,
        secrets: Sequence[str],
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: float,
        tolerance: float,
    ) -> Verified:
        """Return proof of origin or raise a VerificationError; never anything else."""


Route = Callable[[Verified, Mapping[str, str]], list[Routed]]


@dataclass(frozen=True, slots=True)
class Provider:
    source: Source
    secrets: tuple[str, ...]
    verify: Verify
    route: Route


def configured(settings: Settings) -> dict[Source, Provider]:
    """Every provider, with its secrets (an empty tuple: the endpoint answers 404)."""

    def plain(secrets: Sequence[SecretStr]) -> tuple[str, ...]:
        return tuple(secret.get_secret_value() for secret in secrets)

    return {
        "workos": Provider(
            "workos", plain(settings.workos_webhook_secrets), workos.verify, route_workos
        ),
        "stytch": Provider(
            "stytch", plain(settings.stytch_webhook_secrets), stytch.verify, route_stytch
        ),
        "polis": Provider(
            "polis", plain(settings.polis_webhook_secrets), polis.verify, route_polis
        ),
    }
