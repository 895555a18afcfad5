"""Reading SQL text as a reader's grep does: which functions a script or any file creates,
and their bodies (for tests/unit/test_sql_definitions.py and test_access_payloads.py)."""

from __future__ import annotations

import re

_CREATE = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([\w.]+)\s*\(", re.IGNORECASE | re.MULTILINE
)
_BODY = re.compile(r"\bAS\s+(\$\w*\$)(.*?)\1", re.IGNORECASE | re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")


def defined(sql: str) -> list[tuple[str, str]]:
    """(name, body) of every function a script creates, in order. The body is the text
    between the first dollar quotes after the CREATE (any tag: $$, $fn$ ...)."""
    code = _LINE_COMMENT.sub("", sql)
    found = []
    for create in _CREATE.finditer(code):
        body = _BODY.search(code, create.end())
        assert body is not None, f"no $-quoted body after {create[0]!r}"
        found.append((create[1].lower(), body[2]))
    return found


def created_names(text: str) -> list[str]:
    """The names of the CREATE FUNCTION statements in any text (Python, Markdown or SQL)."""
    return [match[1].lower() for match in _CREATE.finditer(_LINE_COMMENT.sub("", text))]
