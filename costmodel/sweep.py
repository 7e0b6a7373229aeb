"""Sweeps: exact costs on dense grids of α × resolution, from the compiled closed forms.

Every combination of the given widths and sides is one row; the counts come from
:class:`costmodel.grid.CostGrid` a block of rows at a time (so a caller can show progress), and
:func:`to_csv` writes a million rows in a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from costmodel import limits
from costmodel.conventions import DEFAULT, Counting
from costmodel.errors import UsageError
from costmodel.grid import CostGrid
from costmodel.intmath import exact_number
from costmodel.model import Model, input_side
from costmodel.records import Tabular

BLOCK = 1 << 16  # points per evaluation
# Bytes one value of the result takes until it is written (an exact integer in an object array, its CSV
# text and the list that joins it): measured 134 on a million-point sweep of two metrics.
CELL_BYTES = 160


@dataclass
class Sweep(Tabular):
    """The grid's columns: ``alpha`` (as written), ``resolution`` and one array per metric."""

    model: Model
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def to_records(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [dict(zip(names, (_plain(self.columns[n][i]) for n in names), strict=True)) for i in range(len(self))]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def sweep(
    model: Model,
    alphas: Sequence[str | None],
    resolutions: Sequence[str | None],
    metrics: Sequence[str],
    *,
    values: Mapping[str, str] | None = None,
    counting: Counting | str = DEFAULT,
    dtype: str = "float32",
    progress: Callable[[int], None] | None = None,
) -> Sweep:
    """Every (α, resolution) combination, α varying slowest; ``progress(points)`` after each block."""
    width = model.roles.width
    widths = [a for a in alphas if a is not None] if width is not None else []
    if width is None and any(a is not None for a in alphas):
        raise UsageError(f"{model.name} has no width multiplier to sweep")
    given_sides = [r for r in resolutions if r is not None]
    if given_sides and model.base_resolution is None:
        raise UsageError(f"{model.name}'s input does not scale: it takes no resolution")
    total = max(len(widths), 1) * max(len(given_sides), 1)
    limits.check_memory(total * CELL_BYTES * (2 + len(metrics)), f"a sweep of {total:,} points")
    sides = [input_side(r) for r in given_sides]
    exact_widths: list[Fraction | None] = [exact_number(a) for a in widths] or [None]
    n_sides = max(len(sides), 1)
    grid = CostGrid(model, counting, dtype)
    columns: dict[str, np.ndarray] = {}
    if widths:
        columns["alpha"] = np.repeat(np.array(widths, dtype=object), n_sides)
    if sides:
        columns["resolution"] = np.tile(np.array(sides, dtype=np.int64), len(exact_widths))
        if model.spec.input_width is not None:  # not square: each height's width too
            widths_of = [model.point(resolution=side, values=dict(values or {})).width or side for side in sides]
            columns["width"] = np.tile(np.array(widths_of, dtype=np.int64), len(exact_widths))
    results = {m: np.empty(total, dtype=object) for m in metrics}
    for start, stop, arrays in _blocks(exact_widths, sides, width, dict(values or {})):
        for metric, array in grid(list(metrics), **arrays).items():
            results[metric][start:stop] = np.broadcast_to(array, (stop - start,))
        if progress is not None:
            progress(stop - start)
    for metric in metrics:
        array = results[metric]
        fits = all(abs(int(v)) < 2**62 for v in (array.max(), array.min())) if total else True
        columns[metric] = array.astype(np.int64) if fits else array
    return Sweep(model, columns)


def _blocks(
    widths: list[Fraction | None], sides: list[int], width: str | None, values: dict[str, str]
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    n_sides = max(len(sides), 1)
    rows = max(1, BLOCK // n_sides)
    side_array = np.array(sides, dtype=np.int64)
    for first in range(0, len(widths), rows):
        chunk = widths[first : first + rows]
        arrays: dict[str, Any] = dict(values)
        if sides:
            arrays["resolution"] = np.tile(side_array, len(chunk))
        if width is not None and chunk[0] is not None:
            numerators = np.repeat(np.array([w.numerator for w in chunk if w is not None]), n_sides)
            denominators = np.repeat(np.array([w.denominator for w in chunk if w is not None]), n_sides)
            arrays[width] = (numerators, denominators)
        yield first * n_sides, (first + len(chunk)) * n_sides, arrays


def to_csv(result: Sweep) -> str:
    """The sweep as CSV, a header then one line per point (exact integers)."""
    names = list(result.columns)
    if not len(result):
        return ",".join(names) + "\n"
    texts = [result.columns[n].astype(str) for n in names]
    lines = [",".join(row) for row in zip(*texts, strict=True)]
    return ",".join(names) + "\n" + "\n".join(lines) + "\n"
