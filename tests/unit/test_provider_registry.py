"""The registry is the one list of providers: the `Source` literal, the settings, the
metric labels and every layer's parts agree with it, and a provider missing a part (or a
part whose provider is not registered) is reported by name."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from types import ModuleType
from typing import get_args

import pytest
from pydantic import ValidationError

from dsync.metrics import event_type_label
from dsync.settings import load_settings
from schemas.envelope import EventEnvelope
from schemas.providers import (
    BY_SOURCE,
    PROVIDERS,
    SOURCES,
    WEBHOOK_PROVIDERS,
    ProviderSpec,
    Source,
    Webhook,
)
from schemas.routed import Routed
from tests.provider_parts import missing_parts, unregistered_parts
from webhook_ingress.providers import configured
from webhook_ingress.verification import Verified
from worker.commands import Command
from worker.mappers import MAPPERS


def test_the_source_literal_names_exactly_the_registered_providers() -> None:
    assert [spec.source for spec in PROVIDERS] == list(get_args(Source)) == list(SOURCES)
    assert len(BY_SOURCE) == len(PROVIDERS)


def test_every_registered_provider_has_every_part_it_needs() -> None:
    assert missing_parts(PROVIDERS) == []


def test_no_layer_holds_a_part_of_an_unregistered_provider() -> None:
    assert unregistered_parts(PROVIDERS) == []


def test_each_layer_serves_exactly_the_registry() -> None:
    settings = load_settings({})
    assert set(MAPPERS) == set(SOURCES)
    assert set(configured(settings)) == {s.source for s in PROVIDERS if s.webhook}


def test_webhook_secrets_keep_their_environment_names() -> None:
    environ = {f"DSYNC_{s.upper()}_WEBHOOK_SECRETS": f"{s}-one, {s}-two" for s in SOURCES}
    environ["DSYNC_STYTCH_WEBHOOK_SECRETS"] = "whsec_c2VjcmV0, whsec_dHdv"
    providers = configured(load_settings(environ))
    assert providers["workos"].secrets == ("workos-one", "workos-two")
    assert providers["polis"].secrets == ("polis-one", "polis-two")
    assert providers["stytch"].secrets == ("whsec_c2VjcmV0", "whsec_dHdv")


@pytest.mark.parametrize("secret", ["not-base64!", "whsec_", "whsec_%%%%"])
def test_a_stytch_secret_svix_would_misread_fails_at_start(secret: str) -> None:
    """Stytch's check comes from its spec; the message never quotes the secret."""
    with pytest.raises(ValidationError, match="'whsec_' followed by base64") as raised:
        load_settings({"DSYNC_STYTCH_WEBHOOK_SECRETS": f"whsec_c2VjcmV0, {secret}"})
    assert "c2VjcmV0" not in str(raised.value)


def test_metric_labels_are_the_registered_event_types_and_nothing_else() -> None:
    for spec in PROVIDERS:
        for event_type in spec.event_types:
            assert event_type_label(event_type) == event_type
    assert event_type_label("scim.member.create") == "scim.member.create"  # Stytch's shape
    assert event_type_label("dsync.user.created.x") == "other"
    assert event_type_label("user.exploded") == "other"
    assert event_type_label(None) == "unknown"


# --- the recipe, proved with a toy provider ------------------------------------------

TOY = ProviderSpec(
    "toy",  # type: ignore[arg-type]  # a name the Source literal does not have, on purpose
    "Toy",
    frozenset({"toy.thing.happened"}),
    route=lambda delivery, _headers: [Routed("toy-1", "toy.thing.happened", "d", delivery.body)],
    webhook=Webhook("toy_webhook_secrets"),
)


def _toy_verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float,
) -> Verified:
    return Verified(body=body, timestamp=now)


def _toy_commands(_envelope: EventEnvelope) -> list[Command] | None:
    return None


@pytest.fixture
def toy_parts() -> Iterator[dict[str, ModuleType]]:
    """The toy's verifier and mapper modules, planted where the lookups find them."""
    verifier, mapper = ModuleType("webhook_ingress.toy"), ModuleType("worker.mappers.toy")
    verifier.verify = _toy_verify  # type: ignore[attr-defined]
    mapper.commands = _toy_commands  # type: ignore[attr-defined]
    planted = {verifier.__name__: verifier, mapper.__name__: mapper}
    sys.modules.update(planted)
    yield planted
    for name in planted:
        del sys.modules[name]


def test_a_toy_provider_without_its_parts_is_reported_part_by_part() -> None:
    assert missing_parts((*PROVIDERS, TOY)) == [
        "toy: no module webhook_ingress.toy",
        "toy: no module worker.mappers.toy",
        "toy: no Settings field toy_webhook_secrets",
    ]


def test_a_toy_provider_missing_only_its_mapper_is_reported(
    toy_parts: dict[str, ModuleType],
) -> None:
    del toy_parts["worker.mappers.toy"].commands
    assert "toy: worker.mappers.toy has no commands" in missing_parts((*PROVIDERS, TOY))


def test_a_toy_provider_without_a_webhook_needs_only_a_mapper(
    toy_parts: dict[str, ModuleType],
) -> None:
    pull_only = ProviderSpec(TOY.source, "Toy", TOY.event_types, TOY.route)
    assert missing_parts((*PROVIDERS, pull_only)) == []


def test_a_verifier_with_the_wrong_signature_is_reported(
    toy_parts: dict[str, ModuleType],
) -> None:
    toy_parts["webhook_ingress.toy"].verify = lambda body: None  # type: ignore[attr-defined]
    problems = missing_parts((*PROVIDERS, TOY))
    assert any("webhook_ingress.toy.verify does not take" in p for p in problems)


def test_parts_of_a_provider_dropped_from_the_registry_are_reported() -> None:
    without_polis = tuple(spec for spec in PROVIDERS if spec.source != "polis")
    assert set(unregistered_parts(without_polis)) == {
        "webhook_ingress.polis.verify",
        "worker.mappers.polis.commands",
        "reconcile.polis.open_reader",
        "Settings.polis_webhook_secrets",
    }


def test_a_provider_with_a_list_api_needs_a_reader() -> None:
    """`list_api` promises `dsync reconcile --provider <source>`: reconcile/<source>.py must
    define `open_reader`, and no reader may exist for a provider without the promise."""
    listed = tuple(replace(spec, list_api=True) for spec in PROVIDERS)
    assert any("no module reconcile.scim" in problem for problem in missing_parts(listed))
    unlisted = tuple(replace(spec, list_api=False) for spec in PROVIDERS)
    assert "reconcile.stytch.open_reader" in unregistered_parts(unlisted)


def test_a_provider_without_a_webhook_gets_no_endpoint() -> None:
    no_webhooks = tuple(ProviderSpec(s.source, s.display_name, s.event_types) for s in PROVIDERS)
    verifiers = {f"webhook_ingress.{s.source}.verify" for s in WEBHOOK_PROVIDERS}
    assert verifiers <= set(unregistered_parts(no_webhooks))
    assert configured(load_settings({}), no_webhooks) == {}
