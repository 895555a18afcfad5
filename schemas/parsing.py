"""Parsing a provider body: every failure becomes InvalidPayload with a reason that is
safe to log (no input values)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.errors import InvalidPayload, describe_validation_error

_M = TypeVar("_M", bound=BaseModel)


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidPayload("body is not valid JSON") from exc


def validate_json(model: type[_M], body: bytes) -> _M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidPayload(describe_validation_error(exc)) from exc
