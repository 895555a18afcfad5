"""Deterministic mixed WorkOS event streams for the worker benchmarks."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from schemas.envelope import EventEnvelope

_BASE = 1_700_000_000


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def mixed_stream(events: int, *, directories: int = 20, seed: int = 7) -> list[EventEnvelope]:
    """Users, groups and memberships in proportions like an initial sync plus churn, with
    10% duplicated deliveries and 5% stale updates (an older version after a newer one)."""
    rnd = random.Random(seed)
    users: list[tuple[str, str, int]] = []  # (id, directory, version)
    groups: dict[str, list[str]] = {}  # directory -> group ids
    stream: list[dict[str, Any]] = []
    clock = _BASE
    while len(stream) < int(events * 0.85):
        clock += 1
        roll = rnd.random()
        directory = f"directory_{rnd.randrange(directories)}"
        if roll < 0.35 or not users:
            users.append((f"directory_user_{len(users)}", directory, clock))
            stream.append(_user("created", users[-1], clock))
        elif roll < 0.55:
            index = rnd.randrange(len(users))
            users[index] = (users[index][0], users[index][1], clock)
            stream.append(_user("updated", users[index], clock))
        elif roll < 0.60 or not groups.get(users[-1][1]):
            home = users[-1][1] if roll >= 0.60 else directory
            group_id = f"directory_group_{sum(map(len, groups.values()))}"
            groups.setdefault(home, []).append(group_id)
            stream.append(_group((group_id, home), clock))
        else:
            user = rnd.choice(users)
            if not groups.get(user[1]):
                continue
            group_id = rnd.choice(groups[user[1]])
            kind = "user_added" if roll < 0.9 else "user_removed"
            stream.append(_membership(kind, user, (group_id, user[1]), clock))
    older = rnd.sample(users, min(len(users), int(events * 0.05)))
    stale = [_user("updated", (u[0], u[1], u[2] - 1), u[2] - 1, suffix="stale") for u in older]
    duplicates = [rnd.choice(stream) for _ in range(max(0, events - len(stream) - len(stale)))]
    return [_envelope(event) for event in stream + stale + duplicates]


def _user(kind: str, user: tuple[str, str, int], clock: int, suffix: str = "") -> dict[str, Any]:
    uid, directory, version = user
    return {
        "id": f"event_{kind}_{uid}_{clock}{suffix}",
        "event": f"dsync.user.{kind}",
        "data": {
            "id": uid,
            "directory_id": directory,
            "organization_id": f"org_{directory}",
            "idp_id": f"idp-{uid}",
            "email": f"{uid}@example.com",
            "first_name": "Bench",
            "last_name": f"User {version}",
            "state": "active",
            "custom_attributes": {"department": "Engineering", "job_title": "Engineer"},
            "created_at": _iso(_BASE),
            "updated_at": _iso(version),
        },
        "created_at": _iso(clock),
    }


def _group(group: tuple[str, str], clock: int) -> dict[str, Any]:
    gid, directory = group
    return {
        "id": f"event_group_{gid}_{clock}",
        "event": "dsync.group.created",
        "data": {
            "id": gid,
            "directory_id": directory,
            "organization_id": f"org_{directory}",
            "idp_id": f"idp-{gid}",
            "name": f"Group {gid}",
            "created_at": _iso(_BASE),
            "updated_at": _iso(clock),
        },
        "created_at": _iso(clock),
    }


def _membership(
    kind: str, user: tuple[str, str, int], group: tuple[str, str], clock: int
) -> dict[str, Any]:
    return {
        "id": f"event_{kind}_{user[0]}_{group[0]}_{clock}",
        "event": f"dsync.group.{kind}",
        "data": {
            "directory_id": user[1],
            "user": _user("updated", user, user[2])["data"],
            "group": _group(group, _BASE)["data"],
        },
        "created_at": _iso(clock),
    }


def _envelope(event: dict[str, Any]) -> EventEnvelope:
    data = event["data"]
    return EventEnvelope(
        source="workos",
        event_id=event["id"],
        event_type=event["event"],
        directory_id=data["directory_id"],
        received_at=datetime.now(UTC),
        body=json.dumps(event).encode(),
    )


def steady_stream(events: int, *, directories: int = 20, seed: int = 11) -> list[dict[str, Any]]:
    """B3's webhooks: 40% user creations, 30% updates of an earlier user, 30% memberships
    of an earlier user in one of five groups of its directory; every event id unique."""
    rnd = random.Random(seed)
    users: list[tuple[str, str, int]] = []
    stream: list[dict[str, Any]] = []
    clock = _BASE
    while len(stream) < events:
        clock += 1
        roll = rnd.random()
        if roll < 0.4 or not users:
            directory = f"directory_{rnd.randrange(directories)}"
            users.append((f"directory_user_{len(users)}", directory, clock))
            stream.append(_user("created", users[-1], clock))
        elif roll < 0.7:
            index = rnd.randrange(len(users))
            users[index] = (users[index][0], users[index][1], clock)
            stream.append(_user("updated", users[index], clock))
        else:
            user = rnd.choice(users)
            group = (f"directory_group_{user[1]}_{rnd.randrange(5)}", user[1])
            stream.append(_membership("user_added", user, group, clock))
    return stream


def initial_sync_stream(
    users: int, groups: int, memberships: int, *, directories: int = 10, seed: int = 13
) -> list[dict[str, Any]]:
    """B4's webhooks, in the order an initial sync sends them: every user and group
    created, then the memberships (distinct pairs, each user's groups in its directory)."""
    rnd = random.Random(seed)
    directories = max(1, min(directories, groups))
    if -(-memberships // users) > groups // directories:
        raise ValueError("a user would need more groups than its directory has")
    people = [(f"directory_user_{i}", f"directory_{i % directories}", _BASE) for i in range(users)]
    teams = [(f"directory_group_{i}", f"directory_{i % directories}") for i in range(groups)]
    by_directory: dict[str, list[tuple[str, str]]] = {}
    for team in teams:
        by_directory.setdefault(team[1], []).append(team)
    stream = [_user("created", person, _BASE) for person in people]
    stream += [_group(team, _BASE) for team in teams]
    for i, person in enumerate(people):
        count = memberships // users + (1 if i < memberships % users else 0)
        for team in rnd.sample(by_directory[person[1]], count):
            stream.append(_membership("user_added", person, team, _BASE))
    return stream


def body_lines(events: list[dict[str, Any]]) -> bytes:
    """The load generator's input: one compact JSON body a line."""
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)
