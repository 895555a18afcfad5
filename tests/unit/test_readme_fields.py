"""The README's tables of required fields per provider event name every field the worker's
model requires, and only fields the model has as optional ones: a newcomer who follows
them gets a row, not a dead letter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from schemas import polis, stytch, workos

README = Path(__file__).resolve().parents[2] / "README.md"

# (section heading, first cell of the row) -> the model of what the row describes, and
# the names the row adds around it (the key the object sits under).
ROWS: dict[tuple[str, str], tuple[type[BaseModel], set[str]]] = {
    ("WorkOS", "every event"): (workos.UserEvent, set()),
    ("WorkOS", "`dsync.user.created` / `updated` / `deleted`"): (workos.DirectoryUser, {"data"}),
    ("WorkOS", "`dsync.group.created` / `updated` / `deleted`"): (workos.DirectoryGroup, {"data"}),
    ("WorkOS", "`dsync.group.user_added` / `user_removed`"): (workos.Membership, {"data"}),
    ("WorkOS", "`dsync.activated` / `dsync.deleted`"): (workos.Directory, {"data"}),
    ("Stytch", "every event"): (stytch.StytchEvent, set()),
    ("Stytch", "`member` CREATE / UPDATE (any source)"): (stytch.Member, {"member"}),
    ("Ory Polis", "every event"): (polis.PolisEvent, set()),
}


def _section_rows(text: str) -> dict[tuple[str, str], str]:
    rows: dict[tuple[str, str], str] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("### "):
            section = line[4:].split(" (")[0]
        elif line.startswith("| ") and line.count("|") == 3:
            first, rest = (cell.strip() for cell in line.strip("|").split("|"))
            rows[(section, first)] = rest
    return rows


def _names(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_.]+)`", text))


@pytest.mark.parametrize(
    ("key", "model_and_around"), ROWS.items(), ids=[" ".join(key) for key in ROWS]
)
def test_required_fields_row_matches_the_model(
    key: tuple[str, str], model_and_around: tuple[type[BaseModel], set[str]]
) -> None:
    model, around = model_and_around
    row = _section_rows(README.read_text()).get(key)
    assert row is not None, f"README has no row {key}"
    required_text, _, optional_text = row.partition("(optional")
    fields = model.model_fields
    required = {name for name, field in fields.items() if field.is_required()}
    assert required <= _names(required_text) - around
    assert _names(optional_text) <= set(fields) - required
