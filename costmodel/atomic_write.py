"""The one way costmodel writes a file: whole or not at all, with the permissions of a normal file.

Every output (a report, a table, an ONNX model, an array) is written to a temporary file beside the
target and renamed over it, so that a crash, a full disk or a failed check never leaves a partial
file. As with ``open``, a symlink is followed; a directory, device or FIFO is refused, as is a
read-only file. The
temporary file is created private (mode 0600); before it lands it gets the mode the target would have
had from a plain ``open``: the existing file's mode, or 0666 less the umask, so that a report is
readable by the rest of a team.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, cast

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


def destination(target: str | Path) -> Path:
    """The file a plain ``open`` would write: symlinks followed, and only a regular file (or none).

    Commands call it as they read ``-o``, so that a target they cannot write stops them before the work.
    """
    target = Path(target)
    real = Path(os.path.realpath(target))
    try:
        info = real.stat()
    except FileNotFoundError:
        return real
    except OSError as err:
        raise UsageError(f"cannot write {target}: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise UsageError(f"cannot write {target}: it is {kind}; name a file")
    if not info.st_mode & 0o222 or not os.access(real, os.W_OK):
        raise UsageError(f"cannot write {target}: the file is read-only (chmod u+w to allow it)")
    return real


class _Sink:
    """A handle that only writes and counts, with no ``fileno``: numpy then writes through Python,
    whose failed writes raise, rather than through a C stream whose short writes it ignores."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.written = 0

    def write(self, data: bytes) -> int:
        count = self._handle.write(data)
        self.written += count
        return count

    def tell(self) -> int:
        return self.written

    def read(self, size: int = -1) -> bytes:  # numpy.savez tells a handle from a path by this attribute
        raise io.UnsupportedOperation("an output file is only written")

    def flush(self) -> None:
        self._handle.flush()


def _keep_owner(path: str, target: Path) -> None:
    """Give the new file the old one's owner where allowed (an administrator rewriting a user's file)."""
    try:
        info = target.stat()
        if hasattr(os, "chown") and (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
            os.chown(path, info.st_uid, info.st_gid)
    except OSError:
        pass  # not allowed: the file is the writer's own, as with any editor that saves by renaming


def write_file(
    target: str | Path, write: Callable[[IO[bytes]], None], check: Callable[[str], None] | None = None
) -> None:
    """Write ``target`` through ``write(handle)``; ``check(path)`` vets the file before it lands.

    The handle writes only (no seek, no ``fileno``). An OSError (no such folder, no permission, a
    name too long, a full disk) or a short write is a UsageError naming the file; the previous file,
    or none, stays in place.
    """
    target = Path(target)
    try:
        real = destination(target)
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name[:64]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                sink = _Sink(handle)
                write(cast(IO[bytes], sink))
            size = os.path.getsize(tmp)
            if size != sink.written:
                raise UsageError(f"cannot write {target}: only {size:,} of {sink.written:,} bytes reached the disk")
            if check is not None:
                check(tmp)
            os.chmod(tmp, _mode_for(real))
            if real.exists():
                _keep_owner(tmp, real)
            os.replace(tmp, real)
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
