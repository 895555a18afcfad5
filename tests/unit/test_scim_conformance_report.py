"""The conformance run's verdict (bench.scim_conformance.report): every check must have
run and passed; a skipped check fails the run like a failed one (issue #21: "every check
passes")."""

from __future__ import annotations

import pytest
from scim2_tester import CheckResult, Status

from bench.scim_conformance import report


def test_only_successes_pass() -> None:
    text, passed = report([CheckResult(Status.SUCCESS, title="a"), CheckResult(Status.SUCCESS)])
    assert passed
    assert "2 SUCCESS" in text


@pytest.mark.parametrize(
    "status", [Status.SKIPPED, Status.ERROR, Status.CRITICAL, Status.DEVIATION]
)
def test_any_other_status_fails_the_run_and_says_why(status: Status) -> None:
    results = [
        CheckResult(Status.SUCCESS, title="fine"),
        CheckResult(
            status, title="search_with_attributes", reason="the reason", resource_type="User"
        ),
    ]
    text, passed = report(results)
    assert not passed
    assert f"{status.name:<10} [User] search_with_attributes" in text
    assert "reason: the reason" in text
    assert text.endswith("scim2-tester: FAILED")


def test_no_checks_at_all_fail() -> None:
    assert report([]) == ("\nscim2-tester: FAILED", False)
