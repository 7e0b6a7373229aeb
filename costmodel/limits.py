"""The limits that make hostile input cheap to refuse, in one place.

Specs, ONNX files and arrays come from anyone. Each limit is checked before the work it guards (a
number's digits before it is converted, YAML nodes while they are composed, the bytes an execution
would allocate before it allocates them), so that refusing costs well under a second and little
memory. A user with a real need raises a limit with the environment variable ``COSTMODEL_LIMITS``,
e.g. ``COSTMODEL_LIMITS="layers=50000,memory=8G"``; the README's table lists them all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from functools import lru_cache

from costmodel.errors import SpecError, UsageError

ENVIRONMENT = "COSTMODEL_LIMITS"


@dataclass(frozen=True)
class Limits:
    """The defaults, each with what it bounds (the README's table is checked against these)."""

    digits: int = 30
    """significant digits of one number, on the command line or in a spec or ONNX file"""
    exponent: int = 100
    """size of the exponent in a number written like 1e-7"""
    magnitude: int = 10**12
    """largest number, and largest size (channels, classes, input side) of any tensor"""
    expression: int = 400
    """characters in one spec expression"""
    layers: int = 20_000
    """layers of a spec after blocks and repeats are expanded, and nodes of an ONNX graph"""
    yaml_nodes: int = 200_000
    """YAML nodes of one spec, each alias counted as the nodes it stands for"""
    file_bytes: int = 16 << 20
    """size of a spec file"""
    onnx_bytes: int = 2 << 30
    """size of an ONNX file"""
    memory: int = 2 << 30
    """bytes an execution (verify, run) or an array file may allocate, estimated before allocating"""
    archive_members: int = 10_000
    """arrays in one .npz file"""
    values: int = 100_000
    """values of one option (--alpha, --res...) of a sweep, table or grid"""
    table_rows: int = 1_000
    """rows of one table (each row counts the network once; a sweep evaluates a grid at once)"""
    table_layers: int = 40_000
    """rows of one table times the layers of each row's network (about a second of counting)"""
    grid_layers: int = 25_000_000
    """points of a grid (`sweep`, `solve`) times the layers of the network, where the peak memory is worked out (about
    two seconds)"""
    pool_side: int = 1_024
    """output side of an adaptive pool (counted, and written in a closed form, window by window)"""
    formula_nodes: int = 100_000
    """nodes of one condition or choice in a closed form written out as one expression"""


class LimitError(SpecError):
    """A limit reached: says which, the value, and how to raise it. A SpecError, so that where a spec
    or file reached it, the file, line and layer are added as for any other mistake in it."""


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _parse(text: str) -> Limits:
    limits = Limits()
    known = {f.name for f in fields(Limits)}
    changes: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip().replace("-", "_")
        match = _SIZE.match(value) if sep else None
        if name not in known or match is None or len(match.group(1)) > 30:
            raise UsageError(
                f"{ENVIRONMENT}: expected name=number pairs such as layers=50000 or memory=8G, got {part[:60]!r}"
                f" (limits: {', '.join(sorted(known))})"
            )
        changes[name] = int(match.group(1)) * _SCALE[match.group(2).lower()]
    return replace(limits, **changes)


@lru_cache(maxsize=4)
def _cached(text: str) -> Limits:
    return _parse(text)


def current() -> Limits:
    """The limits in force: the defaults, with any that ``COSTMODEL_LIMITS`` raises or lowers."""
    return _cached(os.environ.get(ENVIRONMENT, ""))


def exceeded(name: str, what: str, value: object = None) -> LimitError:
    """The error for ``what`` (worth ``value``, when given) past the limit ``name``, with how to raise it."""
    return LimitError(past(name, what, value))


def past(name: str, what: str, value: object = None) -> str:
    """The message of :func:`exceeded`, for errors of other kinds (a shape rule's, a closed form's)."""
    limit = getattr(current(), name)
    shown = f" ({value})" if value is not None else ""
    return f"{what}{shown}: past the limit {name}={limit:,} (raise it with {ENVIRONMENT}={name}=N)"


def show_bytes(count: int) -> str:
    """A byte count for a message: 1.5 GiB, 12 MiB, 300 bytes."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} bytes"


def check_memory(needed: int, what: str) -> None:
    """Refuse work that would allocate more than the memory limit (an estimate made before allocating)."""
    limit = current().memory
    if needed > limit:
        raise LimitError(
            f"{what} would need about {show_bytes(needed)}: past the limit memory={show_bytes(limit)} "
            f"(raise it with {ENVIRONMENT}=memory=8G)"
        )
