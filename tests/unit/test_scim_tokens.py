"""SCIM bearer tokens (scim_server.tokens)."""

from __future__ import annotations

from scim_server.tokens import digest, matches, new_token, presented


def test_a_new_token_matches_its_digest_only() -> None:
    token, stored = new_token()
    other, other_stored = new_token()
    assert matches(token, [other_stored, stored])
    assert not matches(token, [other_stored])
    assert not matches(other + "x", [other_stored])
    assert stored == digest(token)
    assert token.encode() not in stored


def test_bearer_and_bare_tokens_are_presented() -> None:
    assert presented("Bearer abc") == "abc"
    assert presented("bearer  abc ") == "abc"
    assert presented("abc") == "abc"
    assert presented(None) is None
    assert presented("Bearer ") is None
