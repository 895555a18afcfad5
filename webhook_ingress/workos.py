"""WorkOS webhook signatures: `WorkOS-Signature: t=<unix ms>, v1=<hex>`."""

from __future__ import annotations

from webhook_ingress.timestamped_hmac import Scheme

HEADER = "workos-signature"
SCHEME = Scheme(headers=(HEADER,), signature_key="v1")

sign = SCHEME.sign
verify = SCHEME.verify
