"""The settings file of a running `dsync dev`: where its servers are, for the other commands
and for a shell.

While `dsync dev --workdir W` runs, `W/env` (mode 0600) holds `export DSYNC_NAME='value'`
lines that a POSIX shell can source (`. .dsync/dev/env`), under a comment naming the dev
process. Every other `dsync` command takes a variable missing from its environment from
that file (`.dsync/dev/env` relative to the working directory, or the file `DSYNC_DEV_ENV`
names; empty: none), but only while the process it names is alive: a file left behind by
a killed `dsync dev` is never read. The environment always wins.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from dsync.embedded import running

DEFAULT_PATH = Path(".dsync/dev/env")
PATH_VARIABLE = "DSYNC_DEV_ENV"

_OWNER = re.compile(r"^# written by dsync dev \(process (\d+), started (\d+)\)", re.MULTILINE)
_NAME = re.compile(r"^DSYNC_[A-Z0-9_]+$")


def write(path: Path, values: Mapping[str, str]) -> None:
    """Write the file for this process, atomically and readable only by its owner (it
    holds the webhook secrets and the database URL)."""
    pid = os.getpid()
    lines = [
        f"# written by dsync dev (process {pid}, started {_started(pid)}); "
        "removed when it stops. Source it: . <this file>",
        *(f"export {name}={_quote(value)}" for name, value in values.items()),
    ]
    for name in values:
        if not _NAME.match(name):
            raise ValueError(f"not a dsync variable name: {name!r}")
    temporary = path.with_name(f".{path.name}.{pid}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(file.fileno(), 0o600)  # whatever the umask or an older file said
        file.write("\n".join(lines) + "\n")
    temporary.replace(path)


def remove(path: Path) -> None:
    """Remove the file if this process wrote it (never another dev's)."""
    if live_owner(path) == os.getpid():
        path.unlink(missing_ok=True)


def with_dev_env(environ: Mapping[str, str], cwd: Path | None = None) -> dict[str, str]:
    """`environ`, completed from a running `dsync dev`'s file. An empty variable counts as
    unset, as it does for the settings."""
    return {**read(environ, cwd), **{name: value for name, value in environ.items() if value}}


def read(environ: Mapping[str, str], cwd: Path | None = None) -> dict[str, str]:
    """The variables of the file `environ` points at, if its dev process is alive."""
    named = environ.get(PATH_VARIABLE)
    if named == "":
        return {}
    path = Path(named) if named else DEFAULT_PATH
    if cwd is not None and not path.is_absolute():
        path = cwd / path
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return {}
    return parse(text) if _owner_alive(text) is not None else {}


def live_owner(path: Path) -> int | None:
    """The process id of the running `dsync dev` that wrote `path`, if any."""
    try:
        return _owner_alive(path.read_text())
    except (OSError, UnicodeDecodeError):
        return None


def parse(text: str) -> dict[str, str]:
    """The `export NAME='value'` lines as written by `write`; anything else is ignored."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:  # unbalanced quotes: not a file we wrote
        return {}
    values: dict[str, str] = {}
    for keyword, assignment in zip(words[::2], words[1::2], strict=False):
        name, equals, value = assignment.partition("=")
        if keyword == "export" and equals and _NAME.match(name):
            values[name] = value
    return values


def _quote(value: str) -> str:
    """Single quotes: the shell expands nothing inside them; a quote is written '\\''."""
    return "'" + value.replace("'", "'\\''") + "'"


def _owner_alive(text: str) -> int | None:
    match = _OWNER.search(text)
    if match is None:
        return None
    pid, started = int(match[1]), int(match[2])
    # The start time guards against a recycled process id (a dev killed long ago).
    return pid if _started(pid) == started else None


def _started(pid: int) -> int:
    """The process's start time in clock ticks after boot (Linux); 0 if it is not running
    or the system does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0 if running(pid) else -1
    fields = stat.rpartition(")")[2].split()
    return -1 if fields[0] == "Z" else int(fields[19])

    return True
