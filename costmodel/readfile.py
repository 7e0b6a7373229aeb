"""The one way costmodel reads a whole file a user names: regular files only, up to a size limit.

A FIFO would block forever, a device could stream without end, a directory is not a file: each is
refused before it is read. The file is opened without blocking and checked on the open descriptor, so
that a name swapped for something else between a check and the open cannot slip through.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

from costmodel import limits
from costmodel.errors import SpecError

_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def regular_file_error(mode: int) -> str | None:
    """Why a file of ``mode`` cannot be read as input, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return f"it is {_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not a regular file"


class NotRegularFile(OSError):
    """A name that is a directory, FIFO or device: an OSError whose ``strerror`` says which."""


def open_regular(path: str | Path) -> IO[bytes]:
    """``path`` opened for reading if it is a regular file (a FIFO is not waited on), else OSError
    (:class:`NotRegularFile` saying what it is instead)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        problem = regular_file_error(os.fstat(fd).st_mode)
        if problem:
            raise NotRegularFile(0, problem)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path, limit: str, shown: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most the limit named ``limit`` (a field of
    :class:`~costmodel.limits.Limits`); any problem is a one-line error naming ``shown`` (or the path)."""
    shown = shown or str(path)
    most = getattr(limits.current(), limit)
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > most:
                raise limits.exceeded(limit, "the file is too large", f"{size:,} bytes").located(file=shown)
            data = handle.read(most + 1)  # one byte more tells a file that grew while being read
    except OSError as err:
        raise SpecError(f"cannot read: {err.strerror or err}", file=shown) from None
    if len(data) > most:
        raise limits.exceeded(limit, "the file is too large").located(file=shown)
    return data
