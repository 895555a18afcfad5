"""Search by POST (RFC 7644 §3.4.3) over HTTP against the live stack: `/Users/.search` and
`/Groups/.search` answer exactly as the GET search with the same parameters; the root
`/.search` lists users then groups with stable paging across both, a term on the other
type's attribute matches nothing of this type, and hostile bodies are 4xx SCIM errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from scim_server.search import SEARCH_REQUEST
from tests.access_support import AccessHarness
from tests.scim_stack import client, connect, okta_user, running_scim

pytestmark = [pytest.mark.db, pytest.mark.kafka]

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass(frozen=True)
class Directory:
    scim: httpx.AsyncClient
    users: list[str]  # ids in creation order
    groups: list[str]


@pytest.fixture
async def directory(access: AccessHarness, database_url: str) -> AsyncIterator[Directory]:
    """Three users (the third named like a group, by displayName) and two groups."""
    connected = await connect(database_url, "org_search")
    settings = access.settings.model_copy(update={"scim_commit_timeout_seconds": 40.0})
    async with (
        running_scim(settings) as root,
        client(root, connected["directory_id"], connected["token"]) as scim,
    ):
        users = []
        for n in range(3):
            body = {**okta_user(f"u{n}@x.test", f"ext-u{n}"), "displayName": f"Person {n}"}
            if n == 2:
                body["displayName"] = "Team A"
            created = await scim.post("/Users", json=body)
            assert created.status_code == 201, created.text
            users.append(created.json()["id"])
        groups = []
        for name in ("Team A", "Team B"):
            members = [{"value": users[0]}]
            created = await scim.post("/Groups", json={"displayName": name, "members": members})
            assert created.status_code == 201, created.text
            groups.append(created.json()["id"])
        yield Directory(scim, users, groups)


def search(**fields: Any) -> dict[str, Any]:
    return {"schemas": [SEARCH_REQUEST], **fields}


@pytest.mark.parametrize(
    ("path", "query", "body"),
    [
        ("/Users", {}, {}),
        ("/Users", {"filter": 'userName eq "U1@X.test"'}, {"filter": 'userName eq "U1@X.test"'}),
        ("/Users", {"startIndex": "2", "count": "1"}, {"startIndex": 2, "count": 1}),
        ("/Users", {"count": "-5"}, {"count": -5}),
        ("/Users", {"count": "99999999999"}, {"count": 99999999999}),
        (
            "/Users",
            {"attributes": "userName,name.givenName"},
            {"attributes": ["userName", "name.givenName"]},
        ),
        (
            "/Users",
            {"excludedAttributes": "emails,meta"},
            {"excludedAttributes": ["emails", "meta"]},
        ),
        ("/Groups", {}, {}),
        ("/Groups", {"excludedAttributes": "members"}, {"excludedAttributes": ["members"]}),
        ("/Groups", {"filter": 'displayName eq "team b"'}, {"filter": 'displayName eq "team b"'}),
        ("/Groups", {"filter": 'userName eq "u1@x.test"'}, {"filter": 'userName eq "u1@x.test"'}),
        ("/Users", {"filter": 'title eq "x"'}, {"filter": 'title eq "x"'}),
    ],
)
async def test_post_search_answers_as_the_get_search(
    directory: Directory, path: str, query: dict[str, str], body: dict[str, Any]
) -> None:
    got = await directory.scim.get(path, params=query)
    posted = await directory.scim.post(f"{path}/.search", json=search(**body))

    assert (posted.status_code, posted.json()) == (got.status_code, got.json())
    assert posted.headers["content-type"] == got.headers["content-type"]


async def test_the_post_forms_project_and_filter(directory: Directory) -> None:
    users = await directory.scim.post(
        "/Users/.search", json=search(filter='userName sw "u"', attributes=["userName"])
    )
    lean = await directory.scim.post("/Groups/.search", json=search(excludedAttributes=["members"]))
    assert users.status_code == 200
    assert [sorted(r) for r in users.json()["Resources"]] == [["id", "schemas", "userName"]] * 3
    assert lean.json()["totalResults"] == 2
    assert all("members" not in g and g["displayName"] for g in lean.json()["Resources"])


async def test_the_root_search_pages_users_then_groups(directory: Directory) -> None:
    everything = directory.users + directory.groups
    pages = []
    for start in (1, 3, 5, 7):
        answer = await directory.scim.post("/.search", json=search(startIndex=start, count=2))
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
    counted = await directory.scim.post("/.search", json=search(count=0))

    assert [p["totalResults"] for p in pages] == [5, 5, 5, 5]
    assert [p["startIndex"] for p in pages] == [1, 3, 5, 7]
    assert [p["itemsPerPage"] for p in pages] == [2, 2, 1, 0]
    listed = [r for p in pages for r in p["Resources"]]
    assert [r["id"] for r in listed] == everything
    kinds = [r["meta"]["resourceType"] for r in listed]
    assert kinds == ["User"] * 3 + ["Group"] * 2
    assert [r["members"] for r in listed[3:]] == [[_member(directory, 0)]] * 2
    assert counted.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 5,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }


def _member(directory: Directory, n: int) -> dict[str, str]:
    uid = directory.users[n]
    base = str(directory.scim.base_url).rstrip("/")
    return {"value": uid, "$ref": f"{base}/Users/{uid}", "type": "User"}


async def test_the_root_search_filters_each_type_by_what_it_has(directory: Directory) -> None:
    async def ids(text: str) -> list[str]:
        answer = await directory.scim.post("/.search", json=search(filter=text))
        assert answer.status_code == 200, answer.text
        return [r["id"] for r in answer.json()["Resources"]]

    # displayName: both types have it; userName and emails: only users (no group matches).
    assert await ids('displayName eq "team a"') == [directory.users[2], directory.groups[0]]
    assert await ids('userName eq "u1@x.test"') == [directory.users[1]]
    assert await ids('emails[type eq "work"].value eq "u0@x.test"') == [directory.users[0]]
    assert await ids('displayName sw "team" and userName pr') == [directory.users[2]]
    assert await ids('externalId eq "ext-u2"') == [directory.users[2]]


async def test_the_root_search_projects_both_types(directory: Directory) -> None:
    kept = await directory.scim.post("/.search", json=search(attributes=["displayName"]))
    dropped = await directory.scim.post(
        "/.search", json=search(excludedAttributes=["members", "emails", "meta"])
    )
    assert [sorted(r) for r in kept.json()["Resources"]] == [["displayName", "id", "schemas"]] * 5
    for resource in dropped.json()["Resources"]:
        assert not {"members", "emails", "meta"} & set(resource), resource
        assert resource["displayName"]


async def test_hostile_search_bodies_are_4xx_scim_errors(directory: Directory) -> None:
    scim = directory.scim
    answers = {
        "not JSON": await scim.post("/.search", content=b"{filter: nope"),
        "a list": await scim.post("/Users/.search", json=[search()]),
        "no schemas": await scim.post("/Users/.search", json={"filter": 'userName eq "a"'}),
        "wrong schema": await scim.post(
            "/Groups/.search",
            json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "count": 1},
        ),
        "count a string": await scim.post("/.search", json=search(count="lots")),
        "count a bool": await scim.post("/.search", json=search(count=True)),
        "filter a number": await scim.post("/.search", json=search(filter=7)),
        "broken filter": await scim.post("/.search", json=search(filter='userName eq "')),
        "no type filters on it": await scim.post("/.search", json=search(filter='title eq "x"')),
        "or": await scim.post("/.search", json=search(filter='userName eq "a" or id pr')),
        "nul in filter": await scim.post("/.search", json=search(filter='userName eq "\u0000"')),
        "huge filter": await scim.post("/.search", json=search(filter="userName pr" * 2000)),
        "both projections": await scim.post(
            "/.search", json=search(attributes=["userName"], excludedAttributes=["emails"])
        ),
        "bad path": await scim.post("/.search", json=search(attributes=["no such path!"])),
        "xml": await scim.post(
            "/.search", content=b"<search/>", headers={"Content-Type": "application/xml"}
        ),
        "huge body": await scim.post("/.search", content=b" " * (2 << 20)),
    }
    status = {name: answer.status_code for name, answer in answers.items()}
    for name, answer in answers.items():
        assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text[:200])
        assert answer.json()["schemas"] == [ERROR], name
        assert answer.json()["status"] == str(answer.status_code), name
        assert answer.json()["detail"], name
    assert (status["xml"], status["huge body"]) == (415, 413)
    scim_types = {name: answers[name].json().get("scimType") for name in answers}
    assert scim_types["not JSON"] == scim_types["wrong schema"] == "invalidSyntax"
    assert scim_types["no schemas"] == scim_types["a list"] == "invalidSyntax"
    assert scim_types["count a string"] == scim_types["count a bool"] == "invalidValue"
    for name in ("filter a number", "broken filter", "no type filters on it", "or", "huge filter"):
        assert scim_types[name] == "invalidFilter", name


async def test_extreme_paging_is_answered_not_refused(directory: Directory) -> None:
    negative = await directory.scim.post("/.search", json=search(count=-1, startIndex=-9))
    huge = await directory.scim.post("/.search", json=search(count=10**12, startIndex=1))
    beyond = await directory.scim.post("/.search", json=search(startIndex=10**40))
    assert negative.json()["itemsPerPage"] == 0
    assert negative.json()["totalResults"] == 5
    assert negative.json()["startIndex"] == 1
    assert huge.json()["itemsPerPage"] == 5
    assert (beyond.status_code, beyond.json()["Resources"]) == (200, [])
    assert beyond.json()["startIndex"] == 2**31 - 1
