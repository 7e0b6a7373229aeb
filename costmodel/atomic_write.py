"""The one way costmodel writes a file: whole or not at all, with the permissions of a normal file.

Every output (a report, a table, an ONNX model, an array) is written to a temporary file beside the
target and renamed over it, so that a crash or a failed check never leaves a partial file. The
temporary file is created private (mode 0600); before it lands it gets the mode the target would have
had from a plain ``open``: the existing file's mode, or 0666 less the umask, so that a report is
readable by the rest of a team.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from costmodel.errors import UsageError

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    with _UMASK_LOCK:  # reading the umask means setting it: keep other threads out meanwhile
        current = os.umask(0o022)
        os.umask(current)
    return current


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def write_file(
    target: str | Path, write: Callable[[IO[bytes]], None], check: Callable[[str], None] | None = None
) -> None:
    """Write ``target`` through ``write(handle)``; ``check(path)`` vets the file before it lands.

    An OSError (no such folder, no permission, a name too long) is a UsageError naming the file.
    """
    target = Path(target)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name[:64]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
            if check is not None:
                check(tmp)
            os.chmod(tmp, _mode_for(target))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise UsageError(f"cannot write {target}: {err.strerror or err}") from None


def write_bytes(target: str | Path, data: bytes, check: Callable[[str], None] | None = None) -> None:
    def write(handle: IO[bytes]) -> None:
        handle.write(data)

    write_file(target, write, check)


def write_text(target: str | Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))
