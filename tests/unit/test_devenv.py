"""The env file of a running `dsync dev`: a shell and the other commands read exactly the
values written, whatever bytes they hold, and only while the writer is alive."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dsync import devenv
from tests.dev_stack import sourced

HOSTILE = {
    "DSYNC_DATABASE_URL": "postgresql://u:p'w\"d@host/db?x=$(touch {marker})",
    "DSYNC_WORKOS_WEBHOOK_SECRETS": "a'b,`touch {marker}`,c\\d",
    "DSYNC_POLIS_WEBHOOK_SECRETS": "line one\nline two # not a comment",
    "DSYNC_INGRESS_HOST": "'; touch {marker}; echo '",
    "DSYNC_EVENTS_TOPIC": "",
}


def hostile(marker: Path) -> dict[str, str]:
    return {name: value.format(marker=marker) for name, value in HOSTILE.items()}


def test_hostile_values_read_back_exactly_and_run_nothing(tmp_path: Path) -> None:
    marker, path = tmp_path / "ran", tmp_path / "env"
    values = hostile(marker)
    previous = os.umask(0)
    try:
        devenv.write(path, values)
    finally:
        os.umask(previous)

    assert sourced(path) == values
    assert devenv.read({devenv.PATH_VARIABLE: str(path)}) == values
    assert not marker.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_left_by_a_dead_dev_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "env"
    writer = "import sys; from pathlib import Path; from dsync import devenv; "
    writer += "devenv.write(Path(sys.argv[1]), {'DSYNC_X': '1'})"
    subprocess.run([sys.executable, "-c", writer, str(path)], check=True)

    assert devenv.parse(path.read_text()) == {"DSYNC_X": "1"}  # it is there,
    assert devenv.read({devenv.PATH_VARIABLE: str(path)}) == {}  # but its writer is gone
    assert devenv.live_owner(path) is None


def test_a_recycled_process_id_does_not_revive_a_file(tmp_path: Path) -> None:
    path = tmp_path / "env"
    devenv.write(path, {"DSYNC_X": "1"})
    text = path.read_text()
    started = text.split("started ", 1)[1].split(")", 1)[0]
    path.write_text(text.replace(f"started {started})", f"started {int(started) - 1})"))

    assert devenv.read({devenv.PATH_VARIABLE: str(path)}) == {}


def test_the_environment_wins_and_an_empty_path_reads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "env"
    devenv.write(path, {"DSYNC_DATABASE_URL": "from-file", "DSYNC_EVENTS_TOPIC": "file-topic"})
    environ = {
        devenv.PATH_VARIABLE: str(path),
        "DSYNC_DATABASE_URL": "from-env",
        "DSYNC_EVENTS_TOPIC": "",  # empty is unset, as for the settings
    }

    merged = devenv.with_dev_env(environ)

    assert merged["DSYNC_DATABASE_URL"] == "from-env"
    assert merged["DSYNC_EVENTS_TOPIC"] == "file-topic"
    assert devenv.read({devenv.PATH_VARIABLE: ""}) == {}


def test_the_default_path_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".dsync" / "dev").mkdir(parents=True)
    devenv.write(tmp_path / devenv.DEFAULT_PATH, {"DSYNC_X": "here"})

    assert devenv.read({}, cwd=tmp_path) == {"DSYNC_X": "here"}
    assert devenv.read({}, cwd=tmp_path / ".dsync") == {}


@pytest.mark.parametrize(
    "text",
    [
        "# written by dsync dev (process 1, started 1)\nexport DSYNC_X='unbalanced\n",
        "export DSYNC_X=1\n",  # no owner line
    ],
)
def test_a_file_not_written_by_dev_gives_nothing(tmp_path: Path, text: str) -> None:
    path = tmp_path / "env"
    path.write_text(text)

    assert devenv.read({devenv.PATH_VARIABLE: str(path)}) == {}


def test_only_dsync_names_are_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a dsync variable"):
        devenv.write(tmp_path / "env", {"PATH": "/usr/bin"})
    assert not (tmp_path / "env").exists()
