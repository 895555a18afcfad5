"""B10's create figure takes B3's p99 of the same run as its baseline, and only B3's."""

from __future__ import annotations

from bench.report import Figure
from bench.run import with_b3_baseline


def figure(id_: str, value: float, baseline: str = "none (absolute)") -> Figure:
    return Figure(id_, id_, value, "ms p99", baseline, None, None, "")


def test_b10_create_is_compared_with_b3_of_the_same_run() -> None:
    b3, create = figure("B3", 200.0), figure("B10", 100.0, "B3 end to end p99 (same run)")
    lookup = figure("B10", 5.0)

    [_, compared, untouched] = with_b3_baseline([b3, create, lookup])

    assert (compared.baseline_value, compared.ratio) == (200.0, 0.5)
    assert untouched == lookup


def test_b10_without_b3_has_no_baseline() -> None:
    create = figure("B10", 100.0, "B3 end to end p99 (same run)")

    assert with_b3_baseline([create]) == [create]
