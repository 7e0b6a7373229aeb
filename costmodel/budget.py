"""Budgets: "at most 150 M MACs, 2 M parameters, 5 MB of int8 weights", and the largest model that fits.

Costs are step functions of α and the resolution (widths and sides round), so "the largest α that
fits" is the true edge of a step on a grid the user chooses (α in steps of 0.001, the resolution in
pixels). :func:`solve` evaluates every grid point at once with the compiled closed forms
(:class:`costmodel.grid.CostGrid`) and takes the largest one that meets every bound, which is exact
whether or not the cost is monotone; the bound that the next step up breaks is the one that binds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from costmodel.conventions import DEFAULT, Counting
from costmodel.errors import UsageError
from costmodel.intmath import exact_number
from costmodel.model import Model, Point
from costmodel.records import Tabular

if TYPE_CHECKING:
    from costmodel.grid import CostGrid

COUNT_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BYTE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
_QUANTITY = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?(?:/[0-9]+)?)\s*([A-Za-z]*)\s*$")
BOUND_METRICS = ("macs", "params", "size", "peak_memory")  # what a budget can bound
IN_BYTES = ("size", "peak_memory")


def parse_quantity(text: str, what: str, in_bytes: bool = False) -> int:
    """``150M`` → 150000000; with ``in_bytes`` also ``5MB`` (10^6) and ``2MiB`` (2^20). Exact: a budget
    of 1.5M is 1,500,000, and a fractional result rounds down (a budget is a ceiling)."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise UsageError(f"{what} takes a number with an optional K, M or G (e.g. 150M), got {text!r}")
    number, unit = match.group(1), match.group(2).upper()
    scale = COUNT_UNITS.get(unit)
    if scale is None and in_bytes:
        scale = BYTE_UNITS.get(unit)
    if scale is None:
        units = ", ".join(u for u in (*COUNT_UNITS, *(BYTE_UNITS if in_bytes else ())) if u)
        raise UsageError(f"{what}: unknown unit {match.group(2)!r} (units: {units})")
    value = exact_number(number, what) * scale
    if value.numerator >= 10**30:
        raise UsageError(f"{what} {text} is too large")
    return int(value)  # floor of a positive fraction


@dataclass(frozen=True)
class Bound:
    metric: str  # one of BOUND_METRICS
    limit: int
    text: str  # as the user wrote it


def bounds_from(limits: Mapping[str, str | None]) -> list[Bound]:
    """The bounds given (metric -> text or None), parsed."""
    bounds = []
    for metric, text in limits.items():
        if text is not None:
            option = "--max-" + metric.replace("_", "-")
            bounds.append(Bound(metric, parse_quantity(text, option, metric in IN_BYTES), text))
    if not bounds:
        raise UsageError("give at least one bound: --max-macs, --max-params, --max-size or --max-peak-memory")
    return bounds


@dataclass
class Solution(Tabular):
    """The largest value of one free symbol (α or the resolution) that meets every bound."""

    model: Model
    free: str  # "alpha" or "resolution"
    value: Any  # Fraction (α) or int (pixels)
    point: Point
    costs: dict[str, int]
    bounds: list[Bound]
    step: Any
    binding: list[str] = field(default_factory=list)  # the bounds the next step up breaks
    next_value: Any = None
    next_costs: dict[str, int] = field(default_factory=dict)

    def slack(self, bound: Bound) -> Fraction:
        return Fraction(bound.limit - self.costs[bound.metric], bound.limit)

    def to_records(self) -> list[dict[str, Any]]:
        return [
            {
                "metric": b.metric,
                "limit": b.limit,
                "cost": self.costs[b.metric],
                "slack": float(self.slack(b)),
                "binds": b.metric in self.binding,
                "next": self.next_costs.get(b.metric),
            }
            for b in self.bounds
        ]


@dataclass
class Frontier(Tabular):
    """The (α, resolution) pairs that fit where no other fitting pair is at least as wide and as large."""

    model: Model
    bounds: list[Bound]
    rows: list[dict[str, Any]]  # alpha, resolution and every bounded metric

    def to_records(self) -> list[dict[str, Any]]:
        return list(self.rows)


def _metrics(bounds: Sequence[Bound]) -> list[str]:
    return sorted({b.metric for b in bounds} | {"macs", "params"}, key=BOUND_METRICS.index)


def _fits(costs: Mapping[str, np.ndarray], bounds: Sequence[Bound]) -> np.ndarray:
    ok = np.ones(np.shape(next(iter(costs.values()))), bool)
    for b in bounds:
        ok &= costs[b.metric] <= b.limit
    return ok


class _Steps(Sequence[Fraction]):
    """step, 2·step, ... up to top, made only where read: the evaluators take them as integer arrays
    (a million Fractions took a second to make and convert)."""

    def __init__(self, step: Fraction, top: Fraction) -> None:
        self.step, self.size = step, int(top / step)
        if self.size > 1_000_000:
            raise UsageError(f"a step of {step} up to {top} is more than a million points: choose a coarser step")

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if not -self.size <= index < self.size:
            raise IndexError(index)
        return self.step * (index % self.size + 1)

    def exact(self) -> tuple[np.ndarray, np.ndarray]:
        """(numerators, denominators) of every step, as :func:`costmodel.grid.exact_values` gives them."""
        p, q = self.step.numerator, self.step.denominator
        if max(self.size * p, q) < 2**62:
            return np.arange(1, self.size + 1, dtype=np.int64) * p, np.full(self.size, q, dtype=np.int64)
        from costmodel.grid import exact_values

        return exact_values(list(self))  # Python integers beyond int64


def solve(
    model: Model,
    bounds: Sequence[Bound],
    *,
    alpha: Any = None,
    resolution: Any = None,
    values: Mapping[str, str] | None = None,
    counting: Counting | str = DEFAULT,
    dtype: str = "float32",
    step: Any = "0.001",
    alpha_max: Any = "2",
    resolution_step: int = 1,
    resolution_max: int = 2048,
) -> Solution:
    """The largest α on multiples of ``step`` (with ``resolution`` fixed), or the largest resolution on
    multiples of ``resolution_step`` (with ``alpha`` fixed, or for a model without α), that meets
    every bound; the other symbols at ``values`` or their defaults."""
    from costmodel.grid import CostGrid  # the closed forms (sympy): only where solved

    grid = CostGrid(model, counting, dtype)
    metrics = _metrics(bounds)
    others = dict(values or {})
    width = model.roles.width
    if width is not None and alpha is None:
        if model.base_resolution is not None and resolution is None:
            raise UsageError("give --res (or --alpha) to solve for the other, or neither for the frontier")
        step_ = exact_number(step, "the step")
        if step_ <= 0:
            raise UsageError(f"the step must be > 0, got {step}")
        candidates = _Steps(step_, exact_number(alpha_max))
        if not candidates:
            raise UsageError(f"no alpha to try: a step of {step} passes the largest, {alpha_max}")
        inputs: dict[str, Any] = {width: candidates.exact(), **others}
        if resolution is not None:
            inputs["resolution"] = int(exact_number(resolution))
        costs = _evaluate_valid(grid, metrics, inputs, len(candidates))
        return _edge(model, "alpha", candidates, costs, bounds, step_, alpha=None, resolution=resolution, values=others)
    if model.base_resolution is None:
        raise UsageError(f"{model.name} has neither a width multiplier nor a resolution to solve for")
    fixed_alpha = {} if alpha is None else {width or "alpha": str(alpha)}
    low = model.min_resolution(model.point(values={**others, **fixed_alpha})) or 1
    sides = list(range(max(low, resolution_step), resolution_max + 1, resolution_step))
    if not sides:
        raise UsageError(f"no resolution to try from {low} to {resolution_max} in steps of {resolution_step}")
    arrays: dict[str, Any] = {"resolution": np.array(sides), **others, **fixed_alpha}
    costs = _evaluate_valid(grid, metrics, arrays, len(sides))
    return _edge(
        model, "resolution", sides, costs, bounds, resolution_step, alpha=alpha, resolution=None, values=others
    )


def _evaluate_valid(grid: CostGrid, metrics: list[str], arrays: dict[str, Any], count: int) -> dict[str, np.ndarray]:
    return {k: np.broadcast_to(v, (count,)) for k, v in grid(metrics, **arrays).items()}


def _edge(
    model: Model,
    free: str,
    candidates: Sequence[Any],
    costs: Mapping[str, np.ndarray],
    bounds: Sequence[Bound],
    step: Any,
    *,
    alpha: Any,
    resolution: Any,
    values: Mapping[str, str],
) -> Solution:
    ok = _fits(costs, bounds)
    if not ok.any():
        cheapest = {b.metric: int(costs[b.metric][0]) for b in bounds}
        shown = ", ".join(f"{m} {v:,}" for m, v in cheapest.items())
        raise UsageError(f"nothing fits: even the smallest {free} ({candidates[0]}) costs {shown}")
    index = int(np.flatnonzero(ok)[-1])
    value = candidates[index]
    point = _point(model, free, value, alpha, resolution, values)
    chosen = {m: int(costs[m][index]) for m in costs}
    solution = Solution(model, free, value, point, chosen, list(bounds), step)
    if index + 1 < len(candidates):
        solution.next_value = candidates[index + 1]
        solution.next_costs = {m: int(costs[m][index + 1]) for m in costs}
        solution.binding = [b.metric for b in bounds if solution.next_costs[b.metric] > b.limit]
    return solution


def _point(model: Model, free: str, value: Any, alpha: Any, resolution: Any, values: Mapping[str, str]) -> Point:
    if free == "alpha":
        return model.point(alpha=str(value), resolution=resolution, values=dict(values))
    return model.point(alpha=alpha, resolution=value, values=dict(values))


def frontier(
    model: Model,
    bounds: Sequence[Bound],
    resolutions: Sequence[int],
    *,
    values: Mapping[str, str] | None = None,
    counting: Counting | str = DEFAULT,
    dtype: str = "float32",
    step: Any = "0.001",
    alpha_max: Any = "2",
) -> Frontier:
    """For each resolution the largest α on the step that fits; pairs that another fitting pair beats
    on both α and resolution are left out. The whole α × resolution grid is evaluated at once."""
    from costmodel.grid import CostGrid

    width = model.roles.width
    if width is None or model.base_resolution is None:
        raise UsageError(f"{model.name} has no width multiplier and resolution to trade")
    others = dict(values or {})
    low = model.min_resolution(model.point(values=others)) or 1
    sides = sorted({int(s) for s in resolutions if int(s) >= low})
    if not sides:
        raise UsageError(f"every resolution given is below {model.name}'s minimum {low}")
    step_ = exact_number(step)
    if step_ <= 0:
        raise UsageError(f"the step must be > 0, got {step}")
    candidates = _Steps(step_, exact_number(alpha_max))
    count = len(candidates) * len(sides)
    if count > 5_000_000:
        raise UsageError(f"{len(candidates):,} widths × {len(sides):,} sides is too large a grid: a coarser step")
    numerators, denominators = (a.reshape(-1, 1) for a in candidates.exact())  # α down, sides across
    arrays: dict[str, Any] = {width: (numerators, denominators), "resolution": np.array(sides).reshape(1, -1)}
    grid = CostGrid(model, counting, dtype)
    shaped = {
        m: np.broadcast_to(v, (len(candidates), len(sides)))
        for m, v in grid(_metrics(bounds), **arrays, **others).items()
    }
    ok = _fits(shaped, bounds)
    rows: list[dict[str, Any]] = []
    for j in reversed(range(len(sides))):
        feasible = np.flatnonzero(ok[:, j])
        if feasible.size == 0:
            continue
        i = int(feasible[-1])
        if rows and rows[-1]["alpha"] >= candidates[i]:
            continue  # a larger resolution already fits this wide a model
        binding = [] if i + 1 >= len(candidates) else [b.metric for b in bounds if shaped[b.metric][i + 1, j] > b.limit]
        row = {"alpha": candidates[i], "resolution": sides[j], **{m: int(v[i, j]) for m, v in shaped.items()}}
        rows.append({**row, "binding": ",".join(binding)})
    if not rows:
        raise UsageError("nothing fits at any of these resolutions")
    return Frontier(model, list(bounds), sorted(rows, key=lambda r: r["resolution"]))
