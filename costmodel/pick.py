"""Pick a configuration: the published ImageNet accuracy of the family, ranked within a budget.

Every accuracy row of the specs (model, variant, α, resolution, top-1, its source) is costed exactly
by counting it, kept if it meets every bound, ranked by top-1, and marked dominated
when another fitting row is at least as accurate and no more costly on every bounded metric (and
better on one of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from costmodel.budget import BOUND_METRICS, Bound
from costmodel.conventions import DEFAULT, Counting
from costmodel.costs import BYTES_PER_VALUE, activation_memory
from costmodel.errors import UsageError
from costmodel.loading import load_model
from costmodel.records import Tabular
from costmodel.resources import builtin_names

COSTS = BOUND_METRICS


@dataclass
class Candidate:
    model: str
    variant: str | None
    alpha: Fraction | None
    resolution: int | None
    top1: float
    top5: float | None
    source: str
    costs: dict[str, int]
    fits: bool = True
    dominated_by: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        name = self.model + (f" [{self.variant}]" if self.variant else "")
        alpha = "" if self.alpha is None else f" α={float(self.alpha):g}"
        side = "" if self.resolution is None else f" {self.resolution}"
        return name + alpha + side

    def record(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "variant": self.variant,
            "alpha": None if self.alpha is None else float(self.alpha),
            "resolution": self.resolution,
            "top1": self.top1,
            "top5": self.top5,
            **self.costs,
            "fits": self.fits,
            "dominated_by": list(self.dominated_by),
            "source": self.source,
        }


@dataclass
class Ranking(Tabular):
    bounds: list[Bound]
    candidates: list[Candidate]  # the ones that fit, most accurate first

    def to_records(self) -> list[dict[str, Any]]:
        return [c.record() for c in self.candidates]

    @property
    def best(self) -> Candidate | None:
        undominated = [c for c in self.candidates if not c.dominated_by]
        return undominated[0] if undominated else None


def candidates(
    models: Sequence[str] | None = None, counting: Counting | str = DEFAULT, dtype: str = "float32"
) -> list[Candidate]:
    """Every published accuracy row of ``models`` (default: every built-in), with its exact costs."""
    if dtype not in BYTES_PER_VALUE:
        raise UsageError(f"unknown dtype '{dtype}' (dtypes: {', '.join(BYTES_PER_VALUE)})")
    found: list[Candidate] = []
    for name in models or builtin_names():
        base = load_model(name)
        rows_by_variant: dict[str | None, list[Any]] = {}
        for row in base.spec.accuracy:
            if row.get("top1") is not None:
                rows_by_variant.setdefault(row.get("variant"), []).append(row)
        for variant, rows in rows_by_variant.items():
            model = base.with_variant(variant)
            for row in rows:
                # a few dozen points: counted one by one, which needs no closed form (nor sympy)
                alpha = Fraction(str(row.get("alpha", 1))) if model.roles.width is not None else None
                side = int(row["resolution"]) if model.base_resolution is not None and "resolution" in row else None
                point = model.point(alpha=alpha, resolution=side)
                costs = model.costs(point, counting)
                found.append(
                    Candidate(
                        model=model.name,
                        variant=variant,
                        alpha=alpha,
                        resolution=point.resolution if model.base_resolution is not None else None,
                        top1=float(row["top1"]),
                        top5=None if row.get("top5") is None else float(row["top5"]),
                        source=str(row.get("source", "")),
                        costs={
                            "macs": int(costs.macs),
                            "params": int(costs.params),
                            "size": int(costs.params) * BYTES_PER_VALUE[dtype],
                            "peak_memory": activation_memory(costs)["peak_bytes"],
                        },
                    )
                )
    return found


def pick(
    bounds: Sequence[Bound],
    models: Sequence[str] | None = None,
    counting: Counting | str = DEFAULT,
    dtype: str = "float32",
) -> Ranking:
    """The published configurations that meet every bound, most accurate first, dominated ones marked."""
    merged: dict[tuple[str, float], Candidate] = {}
    for c in candidates(models, counting, dtype):  # one row per configuration and figure, its sources joined
        key = (c.label, c.top1)
        if key in merged:
            merged[key].source += "; " + c.source
        else:
            merged[key] = c
    fitting = [c for c in merged.values() if all(c.costs[b.metric] <= b.limit for b in bounds)]
    metrics = sorted({b.metric for b in bounds}, key=COSTS.index)
    for c in fitting:
        for other in fitting:
            if other is c:
                continue
            no_worse = other.top1 >= c.top1 and all(other.costs[m] <= c.costs[m] for m in metrics)
            better = other.top1 > c.top1 or any(other.costs[m] < c.costs[m] for m in metrics)
            if no_worse and better:
                c.dominated_by.append(other.label)
    fitting.sort(key=lambda c: (-c.top1, c.costs["macs"], c.label))
    return Ranking(list(bounds), fitting)
