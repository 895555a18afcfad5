"""Ory Polis (formerly BoxyHQ SAML Jackson) webhook signatures:
`Ory-Polis-Signature` or `BoxyHQ-Signature: t=<unix ms>,s=<hex>` (some docs say
`Ory-Signature`; all three are accepted)."""

from __future__ import annotations

from webhook_ingress.timestamped_hmac import Scheme

SCHEME = Scheme(
    headers=("ory-polis-signature", "boxyhq-signature", "ory-signature"), signature_key="s"
)

sign = SCHEME.sign
verify = SCHEME.verify
