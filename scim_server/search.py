"""Searches (RFC 7644 §3.4.2, §3.4.3): `GET /Users`, `GET /Groups`, `POST /Users/.search`,
`POST /Groups/.search` and `POST /.search` over both types. The query string and the
SearchRequest body are two spellings of the same parameters: each becomes one `Search`
(validated by scim2-models' SearchRequest), read and answered one way. The root search
lists users, then groups, so paging is stable across the two."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scim2_models import Context, SearchRequest
from starlette.requests import Request
from starlette.responses import Response

from scim_server.context import Scim
from scim_server.errors import ScimError
from scim_server.filters import Kind, screen
from scim_server.http import json_body, projected, scim_response
from scim_server.protocol import validated
from scim_server.resources import list_response

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
MAX_COUNT = 1000  # filter.maxResults in /ServiceProviderConfig
DEFAULT_COUNT = 100
_MAX_START = 2**31 - 1  # beyond any directory; the echoed startIndex stays a 32-bit integer
_PARAMETERS = ("filter", "startIndex", "count", "sortBy", "sortOrder")
_LISTS = ("attributes", "excludedAttributes")


@dataclass(frozen=True, slots=True)
class Search:
    """One search's parameters, normalised: `start` 1-based, `count` in [0, MAX_COUNT],
    `keep` / `drop` the top-level attributes to return or leave out."""

    filter: str | None
    start: int
    count: int
    keep: set[str] | None
    drop: set[str]


def search_of_query(params: Mapping[str, str]) -> Search:
    """GET's query string; `attributes` and `excludedAttributes` are comma-separated."""
    fields: dict[str, Any] = {name: params[name] for name in _PARAMETERS if params.get(name)}
    for name in _LISTS:
        listed = [part for part in (params.get(name) or "").split(",") if part.strip()]
        if listed:
            fields[name] = listed
    return _search(fields)


def search_of_body(body: dict[str, Any]) -> Search:
    """A POST /.search body: a SearchRequest message, which must say so in `schemas`."""
    schemas = _field(body, "schemas")
    if not isinstance(schemas, list) or SEARCH_REQUEST not in schemas:
        raise ScimError(400, f"a search body's schemas must hold {SEARCH_REQUEST}", "invalidSyntax")
    if _field(body, "filter") == "":  # as `filter=` in a query string: no filter
        body = {k: v for k, v in body.items() if k.lower() != "filter"}
    for name in ("startIndex", "count"):
        value = _field(body, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ScimError(400, f"{name} must be an integer", "invalidValue")
    return _search(body)


def _search(fields: dict[str, Any]) -> Search:
    text = _field(fields, "filter")
    if text is not None and not isinstance(text, str):
        raise ScimError(400, "filter must be a string", "invalidFilter")
    if text:
        screen(text)  # before the parser sees it
    request: SearchRequest[Any] = validated(SearchRequest, fields, Context.SEARCH_REQUEST)
    keep, drop = projected(
        (str(path) for path in request.attributes or []),
        (str(path) for path in request.excluded_attributes or []),
    )
    return Search(
        filter=text or None,
        start=min(request.start_index or 1, _MAX_START),
        count=min(DEFAULT_COUNT if request.count is None else request.count, MAX_COUNT),
        keep=keep,
        drop=drop,
    )


def _field(fields: Mapping[str, Any], name: str) -> Any:
    """A parameter by name, in any case (SCIM attribute names are case-insensitive)."""
    return next((v for k, v in fields.items() if k.lower() == name.lower()), None)


class Searches:
    """The search endpoints: GET on a type's collection, POST on its `/.search`, and POST
    `/.search` at the directory's root for both types."""

    def __init__(self, scim: Scim) -> None:
        self.scim = scim

    async def users(self, request: Request) -> Response:
        return await self._answer(request, ("User",))

    async def groups(self, request: Request) -> Response:
        return await self._answer(request, ("Group",))

    async def everything(self, request: Request) -> Response:
        return await self._answer(request, ("User", "Group"))

    async def _answer(self, request: Request, kinds: tuple[Kind, ...]) -> Response:
        directory = await self.scim.directory(request)
        if request.method == "POST":
            search = search_of_body(await json_body(request, self.scim.max_body_bytes))
        else:
            search = search_of_query(request.query_params)
        page = await self.scim.store.page(
            directory, kinds, search.filter, search.start, search.count
        )
        found = [
            await self.scim.presented(directory, kind, stored, search.keep, search.drop)
            for kind, stored in page.resources
        ]
        return scim_response(list_response(page.total, search.start, found))
