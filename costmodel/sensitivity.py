"""Sensitivity: how each cost moves with α and the resolution at a point.

The elasticity ∂ln(cost)/∂ln(s) says what a 1 % change of ``s`` does to the cost in percent: MACs
move about twice as fast as α and as ρ, parameters as fast as α² and not at all with ρ. It is given
from the smooth form (the law's own derivative at the point) and as an exact finite ratio of counts
across ``s·(1 − ε)`` to ``s·(1 + ε)`` (for the resolution, the nearest whole sides), as
ln(ratio) / ln(factor): a central step, wide enough (ε = 10 % by default) that the rounding of widths
to multiples of 8 and of sides to whole pixels averages out rather than decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from costmodel import symbolic
from costmodel.budget import BOUND_METRICS
from costmodel.conventions import DEFAULT, Counting
from costmodel.errors import UsageError, show_value
from costmodel.grid import CostGrid, point_values
from costmodel.intmath import exact_number
from costmodel.model import Model, Point

METRICS = BOUND_METRICS
SMOOTH = {"macs": "macs", "params": "params", "size": "params"}  # size is params times a constant


@dataclass(frozen=True)
class Elasticity:
    metric: str
    symbol: str  # "alpha" or "resolution"
    smooth: float | None  # from the smooth form (None where there is none: peak memory)
    exact: float  # ln(count ratio) / ln(factor)
    factor: Fraction  # the step the exact ratio took
    ratio: Fraction  # count after / count before

    def record(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "symbol": self.symbol,
            "smooth": self.smooth,
            "exact": self.exact,
            "factor": float(self.factor),
            "ratio": float(self.ratio),
        }


def elasticities(
    model: Model, point: Point, counting: Counting | str = DEFAULT, epsilon: Any = "0.1"
) -> list[Elasticity]:
    """Every metric's elasticity in α and in the resolution (those the model has) at ``point``."""
    try:
        step = exact_number(str(epsilon), "epsilon")
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"epsilon must be a number between 0 and 1, got {show_value(epsilon)}") from None
    if not 0 < step < 1:
        raise UsageError(f"epsilon must be between 0 and 1, got {epsilon}")
    grid = CostGrid(model, counting)
    roles = model.roles
    symbols = model.sympy_symbols
    here = point_values(model, point)
    result: list[Elasticity] = []
    moves: list[tuple[str, str | None, Fraction, dict[str, Any], dict[str, Any]]] = []
    if roles.width is not None:
        alpha = point.values[roles.width]
        low, high = {**here, roles.width: str(alpha * (1 - step))}, {**here, roles.width: str(alpha * (1 + step))}
        moves.append(("alpha", roles.width, (1 + step) / (1 - step), low, high))
    if roles.resolution is not None and point.resolution is not None:
        down = min(point.resolution - 1, round(point.resolution * (1 - step)))
        up = max(point.resolution + 1, round(point.resolution * (1 + step)))
        if down >= (model.min_resolution(point) or 1):
            low, high = {**here, "resolution": down}, {**here, "resolution": up}
            moves.append(("resolution", roles.resolution, Fraction(up, down), low, high))
    laws = {m: symbolic.smooth(model, m, counting, at=point) for m in set(SMOOTH.values())} if moves else {}
    at = model.substitution(point)
    for name, symbol, factor, low, high in moves:
        before = {m: int(v) for m, v in grid(list(METRICS), **low).items()}
        after = {m: int(v) for m, v in grid(list(METRICS), **high).items()}
        for metric in METRICS:
            smooth = None
            if metric in SMOOTH and symbol is not None:
                law = laws[SMOOTH[metric]]
                value = law.xreplace(at)
                slope = sympy.diff(law, symbols[symbol]).xreplace(at)
                smooth = float(point.values[symbol] * slope / value) if value else 0.0
            ratio = Fraction(after[metric], before[metric]) if before[metric] else Fraction(1)
            exact = math.log(ratio) / math.log(factor) if ratio > 0 else float("nan")
            result.append(Elasticity(metric, name, smooth, exact, factor, ratio))
    return result
