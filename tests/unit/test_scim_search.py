"""A search's parameters (scim_server.search): the query string and the SearchRequest body
are two spellings of one `Search`, normalised the same way; a bad body is a 400 that says
what is wrong, never an exception that escapes."""

from __future__ import annotations

from typing import Any

import pytest

from scim_server.errors import ScimError
from scim_server.search import MAX_COUNT, SEARCH_REQUEST, Search, search_of_body, search_of_query


def _body(**fields: Any) -> dict[str, Any]:
    return {"schemas": [SEARCH_REQUEST], **fields}


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ({}, {}),
        ({"filter": 'userName eq "a"'}, {"filter": 'userName eq "a"'}),
        ({"filter": ""}, {"filter": ""}),
        ({"startIndex": "3", "count": "2"}, {"startIndex": 3, "count": 2}),
        ({"startIndex": "-4", "count": "-1"}, {"startIndex": -4, "count": -1}),
        ({"count": str(10**30)}, {"count": 10**30}),
        ({"startIndex": str(10**30)}, {"startIndex": 10**30}),
        ({"attributes": "userName,name.givenName"}, {"attributes": ["userName", "name.givenName"]}),
        ({"excludedAttributes": "members"}, {"excludedAttributes": ["members"]}),
        (
            {"attributes": "urn:ietf:params:scim:schemas:core:2.0:User:userName"},
            {"attributes": ["urn:ietf:params:scim:schemas:core:2.0:User:userName"]},
        ),
    ],
)
def test_the_query_string_and_the_body_give_the_same_search(
    query: dict[str, str], body: dict[str, Any]
) -> None:
    assert search_of_query(query) == search_of_body(_body(**body))


def test_parameters_are_normalised() -> None:
    assert search_of_body(_body()) == Search(None, 1, 100, None, set())
    assert search_of_body(_body(startIndex=0, count=-3)) == Search(None, 1, 0, None, set())
    assert search_of_body(_body(count=10**30)).count == MAX_COUNT
    assert search_of_body(_body(startIndex=10**30)).start == 2**31 - 1
    projected = search_of_body(_body(attributes=["userName", "name.givenName", "Emails"]))
    assert projected.keep == {"username", "name", "emails"}


def test_parameter_names_are_case_insensitive() -> None:
    body = {"Schemas": [SEARCH_REQUEST], "Filter": 'userName eq "a"', "COUNT": 2}
    assert search_of_body(body) == Search('userName eq "a"', 1, 2, None, set())


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"filter": 'userName eq "a"'}, "invalidSyntax"),  # no schemas
        ({"schemas": [], "count": 1}, "invalidSyntax"),
        ({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}, "invalidSyntax"),
        ({"schemas": SEARCH_REQUEST}, "invalidSyntax"),  # not a list
        (_body(count="lots"), "invalidValue"),
        (_body(count=True), "invalidValue"),
        (_body(count=1.5), "invalidValue"),
        (_body(startIndex=[1]), "invalidValue"),
        (_body(filter=5), "invalidFilter"),
        (_body(filter="userName eq"), "invalidFilter"),
        (_body(filter='userName eq "' + "a" * 5000 + '"'), "invalidFilter"),
        (_body(filter='userName eq "a\x00"'), "invalidFilter"),
        (_body(attributes=[3]), "invalidValue"),
        (_body(attributes=["not a path!"]), "invalidPath"),
        (_body(attributes=["userName"], excludedAttributes=["emails"]), "invalidValue"),
        (_body(sortOrder="sideways"), "invalidValue"),
    ],
)
def test_a_bad_body_is_a_400(body: dict[str, Any], scim_type: str) -> None:
    with pytest.raises(ScimError) as refused:
        search_of_body(body)
    assert (refused.value.status, refused.value.scim_type) == (400, scim_type)
    assert refused.value.detail


def test_attributes_and_excluded_attributes_exclude_each_other_in_the_query_too() -> None:
    """RFC 7644 §3.9: "either of the mutually exclusive URL query parameters"."""
    with pytest.raises(ScimError) as refused:
        search_of_query({"attributes": "userName", "excludedAttributes": "emails"})
    assert refused.value.status == 400
