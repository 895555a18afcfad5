"""SCIM errors (RFC 7644 §3.12): one exception carrying the answer, one place that renders
it. Every refusal is a SCIM Error body with `status` (a string, as the RFC says) and a
`detail` that never quotes the request's values."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import ValidationError
from scim2_models import Error, SCIMException
from starlette.responses import Response

MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """An answer other than success; raised anywhere below a route, rendered once."""

    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = dict(headers or {})

    @classmethod
    def of_library(cls, exc: SCIMException) -> ScimError:
        """scim2-models' protocol errors (invalidPath, noTarget, ...), as they describe them."""
        error = exc.to_error()
        return cls(int(error.status or 400), error.detail or "invalid request", error.scim_type)

    @classmethod
    def of_validation(cls, exc: ValidationError) -> ScimError:
        """A body that does not fit the resource schema: the first error's field and reason."""
        errors = Error.from_validation_errors(exc)
        first = errors[0] if errors else None
        detail = (first.detail if first else None) or "the body does not fit the schema"
        scim_type = (first.scim_type if first else None) or "invalidValue"
        return cls(400, detail, scim_type)


def error_response(error: ScimError) -> Response:
    body: dict[str, object] = {
        "schemas": [ERROR_SCHEMA],
        "status": str(error.status),
        "detail": error.detail,
    }
    if error.scim_type:
        body["scimType"] = error.scim_type
    return Response(json.dumps(body), error.status, headers=error.headers, media_type=MEDIA_TYPE)
