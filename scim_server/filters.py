"""SCIM filters -> a parameterised SQL condition, over an allow-list of attributes.

scim2-models parses the filter (RFC 7644 §3.4.2.2); this walks its tree and translates
only what it knows: `eq`, `co`, `sw` and `pr` on the attributes the IdPs match on, joined
by `and`. Anything else is a 400 `invalidFilter` that names the term, never a term
silently dropped (scim2-filter-parser's gap: an unmapped attribute matched every row).
A search over several resource types (POST /.search) translates the filter once per type:
a term on an attribute that another of those types has and this one does not is false
for this one (RFC 7644 §3.4.2.1), as scim2-models' SearchRequest[User | Group] reads it.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path.expressions import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Present,
    ValuePath,
)

from schemas.storable import unstorable
from scim_server.errors import ScimError

Kind = Literal["User", "Group"]

# attribute (lower case) -> (SQL expression over `r`, case-insensitive)
_COLUMNS: dict[Kind, dict[str, tuple[str, bool]]] = {
    "User": {
        "id": ("r.id", False),
        "username": ("r.name", True),
        "externalid": ("r.external_id", False),
        "displayname": ("r.resource->>'displayName'", True),
    },
    "Group": {
        "id": ("r.id", False),
        "displayname": ("r.name", True),
        "externalid": ("r.external_id", False),
    },
}
_EMAIL_PARTS = {"type": "e->>'type'", "value": "e->>'value'"}
_EMAILS = (
    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(r.resource->'emails') "
    "WHEN 'array' THEN r.resource->'emails' ELSE '[]'::jsonb END) AS e WHERE {})"
)
# What each type can be filtered on: its columns, and for users their emails.
FILTERABLE: dict[Kind, frozenset[str]] = {
    "User": frozenset(_COLUMNS["User"]) | {"emails"},
    "Group": frozenset(_COLUMNS["Group"]),
}
MAX_FILTER_LENGTH = 1000


@dataclass
class Condition:
    """SQL text with `$n` placeholders numbered from `first`, and their values."""

    first: int
    params: list[str] = field(default_factory=list)

    def param(self, value: str) -> str:
        self.params.append(value)
        return f"${self.first + len(self.params) - 1}"


def condition(
    kind: Kind, text: str | None, first: int, among: tuple[Kind, ...] = ()
) -> tuple[str, list[str]]:
    """The WHERE condition for `text` (None or empty: every row) on resources of `kind`,
    placeholders from $first. `among`: the other types the same search spans."""
    if not text:
        return "TRUE", []
    screen(text)
    try:
        tree = ScimFilter(text).ast
    except InvalidFilterException as exc:
        raise ScimError(400, f"invalid filter: {exc}", "invalidFilter") from exc
    built = Condition(first)
    return _Translator(kind, built, among).node(tree), built.params


def screen(text: str) -> None:
    """400 for a filter too long to parse or holding text PostgreSQL cannot store."""
    if len(text) > MAX_FILTER_LENGTH or unstorable(text) is not None:
        raise ScimError(400, "the filter is too long or holds unusable text", "invalidFilter")


@dataclass
class _Translator:
    kind: Kind
    out: Condition
    among: tuple[Kind, ...] = ()

    def absent(self, path: AttrPath) -> bool:
        """Whether the attribute belongs to another type of the search and not this one:
        then the term matches nothing of this type."""
        name = path.attr.lower()
        others = (name in FILTERABLE[other] for other in self.among if other != self.kind)
        return path.uri is None and name not in FILTERABLE[self.kind] and any(others)

    def node(self, node: FilterNode) -> str:
        if isinstance(node, LogicalExpr):
            if node.op != LogicalOperator.and_:
                raise _unsupported(f"the logical operator {node.op.value!r}")
            return "(" + " AND ".join(self.node(term) for term in node.terms) + ")"
        if isinstance(node, Comparison | Present):
            return self.attribute(node)
        if isinstance(node, ValuePath):
            return self.emails(node)
        raise _unsupported("'not'")

    def attribute(self, node: Comparison | Present) -> str:
        path = node.attr_path
        if self.absent(path):
            return "FALSE"
        emails = "emails" in FILTERABLE[self.kind] and path.attr.lower() == "emails"
        if emails and (path.sub_attr or "").lower() == "value":
            return _EMAILS.format(self.email_term(node, "value"))
        column = _COLUMNS[self.kind].get(path.attr.lower()) if path.sub_attr is None else None
        if column is None or path.uri is not None:
            raise _unsupported(f"the attribute {_name(path)!r}")
        return self.compare(column, node)

    def emails(self, node: ValuePath) -> str:
        if self.absent(node.attr_path):
            return "FALSE"
        name = node.attr_path.attr.lower()
        if name != "emails" or name not in FILTERABLE[self.kind] or node.sub_attr is not None:
            raise _unsupported(f"the attribute {_name(node.attr_path)!r}")
        terms = node.val_filter.terms if isinstance(node.val_filter, LogicalExpr) else ()
        if isinstance(node.val_filter, LogicalExpr) and node.val_filter.op != LogicalOperator.and_:
            raise _unsupported("'or' inside emails[...]")
        parts = terms or (node.val_filter,)
        inner = []
        for part in parts:
            if not isinstance(part, Comparison | Present) or part.attr_path.sub_attr:
                raise _unsupported("this emails[...] filter")
            inner.append(self.email_term(part, part.attr_path.attr.lower()))
        return _EMAILS.format(" AND ".join(inner))

    def email_term(self, node: Comparison | Present, part: str) -> str:
        if part not in _EMAIL_PARTS:
            raise _unsupported(f"the attribute 'emails.{part}'")
        return self.compare((_EMAIL_PARTS[part], True), node)

    def compare(self, column: tuple[str, bool], node: Comparison | Present) -> str:
        sql, folded = column
        if isinstance(node, Present):
            return f"({sql} IS NOT NULL AND {sql} <> '')"
        if not isinstance(node.value, str):
            raise ScimError(
                400, f"{_name(node.attr_path)!r} compares with a string", "invalidFilter"
            )
        if unstorable(node.value) is not None:
            raise ScimError(400, "the filter holds unusable text", "invalidFilter")
        left, value = (f"lower({sql})", node.value.lower()) if folded else (sql, node.value)
        if node.op == CompareOperator.eq:
            return f"{left} = {self.out.param(value)}"
        pattern = _like_escaped(value)
        if node.op == CompareOperator.sw:
            return f"{left} LIKE {self.out.param(pattern + '%')}"
        if node.op == CompareOperator.co:
            return f"{left} LIKE {self.out.param('%' + pattern + '%')}"
        raise _unsupported(f"the operator {node.op.value!r}")


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name(path: AttrPath) -> str:
    name = f"{path.uri}:{path.attr}" if path.uri else path.attr
    return f"{name}.{path.sub_attr}" if path.sub_attr else name


def _unsupported(what: str) -> ScimError:
    return ScimError(
        400,
        f"filtering on {what} is not supported (supported: eq, co, sw, pr on userName, "
        "externalId, id, displayName, user emails.value and emails[type eq ...]; joined by "
        "and)",
        "invalidFilter",
    )
