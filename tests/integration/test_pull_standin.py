"""The WorkOS stand-in serves the documented read API (provider-apis.md §1) over real HTTP:
pagination in every order, filters, the Events API's rules, and its scripted faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.standins.server import Fault
from tests.standins.workos import WorkOSStandIn
from tests.standins.workos_truth import WorkOSTruth

KEY = "sk_test_standin"
TYPES = "dsync.user.created,dsync.user.updated,dsync.group.created,dsync.group.user_added"


@pytest.fixture
def standin() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running(KEY) as running:
        yield running


def _get(standin: WorkOSStandIn, path: str, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEY}"}
    return httpx.get(standin.url + path, params=params, headers=headers, timeout=5)


def _walk(standin: WorkOSStandIn, path: str, cursor: str, **params: str) -> list[str]:
    seen: list[str] = []
    while True:
        document: dict[str, Any] = _get(standin, path, **params).json()
        seen += [item["id"] for item in document["data"]]
        following = document["list_metadata"][cursor]
        if following is None:
            return seen
        params[cursor] = following


def test_pagination_walks_every_order_once(standin: WorkOSStandIn) -> None:
    truth = standin.truth
    directory = truth.add_directory()
    users = [truth.add_user(directory, f"u{n}@example.com") for n in range(25)]
    assert _walk(standin, "/directory_users", "after", directory=directory, order="asc") == users
    newest_first = users[::-1]
    assert _walk(standin, "/directory_users", "after", directory=directory) == newest_first
    # `normal` lists newest first, and its `before` cursor leads to older records.
    assert (
        _walk(standin, "/directory_users", "before", directory=directory, order="normal")
        == newest_first
    )
    first = _get(standin, "/directory_users", directory=directory, limit="100").json()
    assert first["list_metadata"] == {"before": None, "after": None}
    assert len(first["data"]) == 25


def test_filters_by_directory_group_and_user(standin: WorkOSStandIn) -> None:
    truth = standin.truth
    one, other = truth.add_directory(), truth.add_directory()
    ada, bob = truth.add_user(one, "ada@example.com"), truth.add_user(one, "bob@example.com")
    truth.add_user(other, "eve@example.com")
    group = truth.add_group(one, "Engineering")
    truth.add_member(group, ada)
    assert [u["id"] for u in _get(standin, "/directory_users", group=group).json()["data"]] == [ada]
    by_user = _get(standin, "/directory_groups", user=ada).json()["data"]
    assert [g["id"] for g in by_user] == [group]
    assert _get(standin, "/directory_groups", user=bob).json()["data"] == []
    assert _get(standin, "/directory_users").status_code == 422
    assert _get(standin, f"/directory_users/{bob}").json()["email"] == "bob@example.com"
    assert _get(standin, "/directory_users/directory_user_nobody").status_code == 404
    assert _get(standin, f"/directories/{other}").json()["state"] == "linked"


def test_events_api_rules(standin: WorkOSStandIn) -> None:
    truth = standin.truth
    directory = truth.add_directory()
    for n in range(12):
        truth.add_user(directory, f"u{n}@example.com")
    assert _get(standin, "/events").status_code == 422  # `events` is required
    clash = _get(standin, "/events", events=TYPES, after="x", range_start="2026-01-01T00:00:00Z")
    assert clash.status_code == 422
    page = _get(standin, "/events", events=TYPES, order="desc", limit="5").json()
    ids = [e["id"] for e in page["data"]]
    assert ids == sorted(ids)  # oldest first whatever `order` says
    assert "before" not in page["list_metadata"]
    rest = _get(standin, "/events", events=TYPES, after=ids[-1], limit="100").json()
    assert len(rest["data"]) == 7
    assert rest["list_metadata"]["after"] is None  # the end of the stream
    only_activated = _get(standin, "/events", events="dsync.activated").json()["data"]
    assert [e["event"] for e in only_activated] == ["dsync.activated"]


def test_visibility_lag_withholds_young_events() -> None:
    now = [1_000.0]
    truth = WorkOSTruth(clock=lambda: now[0])
    with WorkOSStandIn.running(KEY, truth=truth, visibility_lag=3.0) as standin:
        truth.add_directory()
        assert _get(standin, "/events", events="dsync.activated").json()["data"] == []
        now[0] += 3.0
        assert len(_get(standin, "/events", events="dsync.activated").json()["data"]) == 1


def test_update_event_carries_previous_attributes(standin: WorkOSStandIn) -> None:
    truth = standin.truth
    user = truth.add_user(truth.add_directory(), "ada@example.com")
    truth.update_user(user, state="inactive")
    [event] = _get(standin, "/events", events="dsync.user.updated").json()["data"]
    assert event["data"]["state"] == "inactive"
    assert event["data"]["previous_attributes"] == {"state": "active"}
    assert "groups" not in event["data"]


def test_scripted_faults_and_counters(standin: WorkOSStandIn) -> None:
    standin.faults.add(
        Fault(429, retry_after="7", path="/events"), Fault(drop=True), Fault(502, path="/dir")
    )
    throttled = _get(standin, "/events", events=TYPES)
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "7")
    with pytest.raises(httpx.RemoteProtocolError):
        _get(standin, "/events", events=TYPES)
    assert _get(standin, "/directories").status_code == 502
    assert _get(standin, "/directories").status_code == 200
    assert standin.traffic.by_path == {"/events": 2, "/directories": 2}
    assert standin.traffic.dropped == 1
    assert standin.faults.pending == 0


def test_wrong_key_is_refused(standin: WorkOSStandIn) -> None:
    response = httpx.get(standin.url + "/directories", headers={"Authorization": "Bearer no"})
    assert response.status_code == 401


def test_directory_users_limit_is_per_directory() -> None:
    with WorkOSStandIn.running(KEY, rate_limit_users=True) as standin:
        one, other = standin.truth.add_directory(), standin.truth.add_directory()
        statuses = [_get(standin, "/directory_users", directory=one).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        assert _get(standin, "/directory_users", directory=other).status_code == 200
