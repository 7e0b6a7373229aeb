"""Reading the arrays a user gives (``run --input x.npy``, ``--weights w.npz``): headers before data.

An ``.npy`` file is a short header (dtype, shape, order) and the data; an ``.npz`` file is a zip archive
of ``.npy`` members. Anyone can write either, so each is read the careful way round:

- only a regular file is opened (a FIFO would block, a device stream without end, a directory is not
  a file), without blocking, and checked on the open descriptor;
- each header is read and checked before any data: real floating-point or integer numbers only (no
  object arrays, so nothing is ever unpickled; no strings, dates, complex or structured records), no
  axis past the ``magnitude`` limit, and the data it declares exactly the bytes the file (or the zip
  member) holds;
- what the arrays will take in memory, as float32, is checked against the ``memory`` limit before
  any data is read, and an archive's members against it and against ``archive_members`` before any
  member is inflated; data is then read in bounded chunks, so a zip member whose sizes lie stops at
  its declared size and fails its CRC check.

Every problem is a :class:`~costmodel.errors.UsageError` naming the file: one line, never a traceback.
"""

from __future__ import annotations

import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from costmodel import limits
from costmodel.errors import UsageError, UserError
from costmodel.ops.base import show_shape
from costmodel.readfile import open_regular

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive
KINDS = "fiu"  # real floating point, signed and unsigned integers
MAX_HEADER = 10_000  # numpy's own bound on an .npy header
MAX_RANK = 32
CHUNK = 16 << 20
_KIND_NAMES = {
    "b": "booleans",
    "c": "complex numbers",
    "m": "time deltas",
    "M": "dates",
    "O": "Python objects",
    "S": "byte strings",
    "U": "strings",
    "V": "records or raw bytes",
}
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, struct.error, ValueError)


class _Problem(Exception):
    """What is wrong with the file, said after ``cannot read WHAT from PATH: ``."""


@dataclass(frozen=True)
class Header:
    """An .npy header as checked: the dtype, the shape, the order and where the data starts."""

    dtype: Any
    shape: tuple[int, ...]
    fortran_order: bool
    offset: int  # bytes of magic and header before the data

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * int(self.dtype.itemsize)

    @property
    def float32_bytes(self) -> int:
        """What the array takes as float32, plus the bytes read first when it is stored otherwise."""
        import numpy as np

        as_is = self.dtype == np.dtype(np.float32) and not (self.fortran_order and len(self.shape) > 1)
        return 4 * self.count + (0 if as_is else self.nbytes)


def read_npy(path: str | Path, what: str, check: Callable[[tuple[int, ...]], None] | None = None) -> np.ndarray:
    """The one array of an .npy file as float32; ``check`` sees its shape before any data is read."""
    with _Reading(path, what) as handle:
        start = handle.read(len(NPY_MAGIC))
        if start.startswith(ZIP_MAGIC):
            raise _Problem("it is an .npz archive, not one array in an .npy file (numpy.save)")
        size = os.fstat(handle.fileno()).st_size
        header = _header(_Counted(handle, start), "")
        if header.offset + header.nbytes != size:
            raise _Problem(_size_mismatch(header, size - header.offset))
        if check is not None:
            check(header.shape)
        limits.check_memory(header.float32_bytes, f"reading {what} ({_show(header.shape)})")
        return _data(handle, header, "")


def read_npz(path: str | Path, what: str, check_key: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz file as float32, by key (the member's name without ``.npy``).

    ``check_key`` sees every key before any data is read.
    """
    with _Reading(path, what) as handle:
        start = handle.read(len(NPY_MAGIC))
        if not start:
            raise _Problem("the file is empty")
        if start.startswith(NPY_MAGIC):
            raise _Problem("it holds one array (an .npy file), not an .npz archive of arrays (numpy.savez)")
        if not start.startswith(ZIP_MAGIC):
            raise _Problem("not a NumPy .npy or .npz file")
        handle.seek(0)
        return _members(handle, what, check_key)


# -- the parts -----------------------------------------------------------------------------------------


class _Reading:
    """Open ``path`` as a regular file; turn every failure inside into one UsageError naming the file."""

    def __init__(self, path: str | Path, what: str) -> None:
        self.path = path
        self.what = what
        self.handle: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        try:
            self.handle = open_regular(self.path)
        except (OSError, ValueError, _Problem) as err:
            raise self._error(err) from None
        return self.handle

    def __exit__(self, kind: Any, error: BaseException | None, _: Any) -> None:
        if self.handle is not None:
            self.handle.close()
        if isinstance(error, limits.LimitError):  # say which file
            raise limits.LimitError(error.message, file=str(self.path)) from None
        if isinstance(error, UserError) or error is None:
            return
        if isinstance(error, (_Problem, *_ZIP_ERRORS, NotImplementedError)):
            raise self._error(error) from None

    def _error(self, err: BaseException) -> UsageError:
        if isinstance(err, _Problem):
            why = str(err)
        elif isinstance(err, OSError) and not isinstance(err, zipfile.BadZipFile):
            why = err.strerror or str(err)
        elif isinstance(err, ValueError) and "null" in str(err):
            why = "the name holds a NUL character"
        else:
            why = f"a damaged archive ({err})"
        return UsageError(f"cannot read {self.what} from {self.path}: {why}")


class _Counted:
    """A stream that counts what is read from it (the header's length), after ``start`` already read."""

    def __init__(self, stream: IO[bytes], start: bytes) -> None:
        self.stream = stream
        self.start = start
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            raise ValueError("an .npy header is read in counted pieces")
        data = self.start[:size]
        self.start = self.start[size:]
        if len(data) < size:
            data += self.stream.read(size - len(data))
        self.count += len(data)
        return data


def _show(shape: tuple[int, ...]) -> str:
    return show_shape(shape) or "a scalar"


def _header(stream: _Counted, member: str) -> Header:
    """The checked header of the .npy data at the start of ``stream``."""
    import numpy as np
    from numpy.lib import format as npy

    where = f"member '{member}': " if member else ""
    first = stream.read(len(NPY_MAGIC))
    if not first:
        raise _Problem(f"{where}it is empty" if member else "the file is empty")
    if first != NPY_MAGIC:
        raise _Problem(f"{where}not a NumPy .npy array" if member else "not a NumPy .npy or .npz file")
    stream.start = first + stream.start  # read_magic reads the magic again
    stream.count -= len(first)
    try:
        version = npy.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = npy.read_array_header_1_0(stream, max_header_size=MAX_HEADER)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy.read_array_header_2_0(stream, max_header_size=MAX_HEADER)
        else:
            raise _Problem(f"{where}.npy format version {version[0]}.{version[1]} is not read (1.0 and 2.0 are)")
    except (ValueError, TypeError, SyntaxError, struct.error, tokenize.TokenError) as err:  # numpy tokenizes it
        text = str(err).split(".")[0].split(": <")[0] if "allow_pickle" not in str(err) else "it is too long"
        raise _Problem(f"{where}a damaged .npy header ({text[:120]})") from None
    dtype = np.dtype(dtype)
    if dtype.kind not in KINDS or dtype.fields is not None or dtype.subdtype is not None:
        kind = _KIND_NAMES.get(dtype.kind, f"dtype {dtype.str}")
        raise _Problem(f"{where}it holds {kind} ({dtype.str}); only real floating-point and integer arrays are read")
    if len(shape) > MAX_RANK:
        raise _Problem(f"{where}it has {len(shape)} axes; at most {MAX_RANK} are read")
    if any(int(d) < 0 for d in shape):
        raise _Problem(f"{where}a damaged .npy header (negative size in shape {tuple(shape)})")
    biggest = max((int(d) for d in shape), default=0)
    if biggest > limits.current().magnitude:
        raise limits.exceeded("magnitude", f"{where}an axis of the array", f"{biggest:,}")
    return Header(dtype, tuple(int(d) for d in shape), bool(fortran_order), stream.count)


def _size_mismatch(header: Header, held: int) -> str:
    declared = f"its header declares {_show(header.shape)} {header.dtype.name} ({header.nbytes:,} bytes of data)"
    why = "truncated or damaged" if held < header.nbytes else "more than the header says"
    return f"{declared} but it holds {max(held, 0):,} bytes: {why}"


def _data(stream: IO[bytes], header: Header, member: str) -> np.ndarray:
    """The array's data, read in chunks into one buffer (exactly ``header.nbytes``), as float32."""
    import numpy as np

    buffer = np.empty(header.nbytes, dtype=np.uint8)
    view = memoryview(buffer)  # type: ignore[arg-type]
    filled = 0
    while filled < header.nbytes:
        got = stream.readinto(view[filled : filled + CHUNK])  # type: ignore[attr-defined]
        if not got:
            where = f"member '{member}': " if member else ""
            raise _Problem(f"{where}{_size_mismatch(header, filled)}")
        filled += got
    array = buffer.view(header.dtype).reshape(header.shape, order="F" if header.fortran_order else "C")
    with np.errstate(over="ignore"):  # a float64 past float32's range becomes inf, as numpy casts it
        result: np.ndarray = array.astype(np.float32, order="C", copy=False)
    return result


def _entries(handle: IO[bytes]) -> int | None:
    """The number of members the archive's end record declares, read before the directory is."""
    end = getattr(zipfile, "_EndRecData", None)
    if end is None:  # pragma: no cover  (present in every CPython since 2.6)
        return None
    record = end(handle)
    if record is None:
        raise _Problem("a damaged archive (no end of central directory record)")
    limits.check_memory(int(record[zipfile._ECD_SIZE]), "reading the archive's directory")  # type: ignore[attr-defined]
    return int(record[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]


def _members(handle: IO[bytes], what: str, check_key: Callable[[str], None] | None) -> dict[str, np.ndarray]:
    most = limits.current().archive_members
    declared = _entries(handle)
    if declared is not None and declared > most:
        raise limits.exceeded("archive_members", "the arrays in the archive", f"{declared:,}")
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    with zipfile.ZipFile(handle) as archive:
        infos = archive.infolist()
        if len(infos) > most:
            raise limits.exceeded("archive_members", "the arrays in the archive", f"{len(infos):,}")
        keys: dict[str, zipfile.ZipInfo] = {}
        for info in infos:  # names, methods and declared sizes: nothing inflated yet
            name = info.filename
            if not name or info.is_dir() or not name.endswith(".npy"):  # is_dir() fails on an empty name
                raise _Problem(f"member '{name}' is not an .npy array (numpy.savez names them KEY.npy)")
            if name[:-4] in keys:
                raise _Problem(f"member '{name}' appears twice")
            if info.flag_bits & 0x1:
                raise _Problem(f"member '{name}' is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Problem(f"member '{name}' is compressed with method {info.compress_type} (numpy writes 0 or 8)")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise _Problem(f"member '{name}': a damaged archive (stored sizes disagree)")
            if info.header_offset + info.compress_size > size:
                raise _Problem(f"member '{name}': the archive is truncated")
            limits.check_memory(info.file_size, f"reading member '{name}' of {what}")
            keys[name[:-4]] = info
        if check_key is not None:
            for key in keys:
                check_key(key)
        headers: dict[str, Header] = {}
        for key, info in keys.items():  # each member's header: only its first bytes are inflated
            with archive.open(info) as member:
                header = _header(_Counted(member, b""), info.filename)
            if header.offset + header.nbytes != info.file_size:
                raise _Problem(f"member '{info.filename}': {_size_mismatch(header, info.file_size - header.offset)}")
            headers[key] = header
        needed = sum(h.count for h in headers.values()) * 4 + max(
            (h.float32_bytes - 4 * h.count for h in headers.values()), default=0
        )
        limits.check_memory(needed, f"reading {what} ({len(headers)} arrays)")
        result: dict[str, np.ndarray] = {}
        for key, info in keys.items():
            with archive.open(info) as member:
                member.read(headers[key].offset)
                result[key] = _data(member, headers[key], info.filename)
                if member.read(1):  # also where zipfile checks the CRC, if the last read did not
                    raise _Problem(f"member '{info.filename}' holds more than its header declares")
        return result
