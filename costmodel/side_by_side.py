"""Models side by side: totals and per-operator-type costs, with differences and ratios against the first.

A configured model is written ``NAME[@key=value,...]``: ``mobilenet_v1@alpha=0.5,res=160``,
``squeezenet1_0``, ``my.yaml@variant=separable``, ``model.onnx``; the keys are ``alpha``, ``res``
(or ``resolution``), ``rho``, ``classes``, ``variant`` and any symbol of the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from costmodel.conventions import DEFAULT, Counting
from costmodel.costs import BYTES_PER_VALUE, activation_memory
from costmodel.errors import UsageError
from costmodel.loading import load_model
from costmodel.model import Model, Point
from costmodel.records import Tabular

TOTALS = ("params", "macs", "size", "peak_memory")


@dataclass
class Configured:
    text: str
    model: Model
    point: Point
    totals: dict[str, int]
    by_type: dict[str, dict[str, int]]  # operator type -> params, macs


def parse_configured(text: str) -> tuple[str, dict[str, str]]:
    """``mobilenet_v1@alpha=0.5,res=160`` -> ("mobilenet_v1", {"alpha": "0.5", "res": "160"})."""
    name, _, settings = text.partition("@")
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in settings.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"{text}: settings are key=value, got {part!r}")
        values[key.strip()] = value.strip()
    if not name.strip():
        raise UsageError(f"{text!r} names no model")
    return name.strip(), values


def configure(text: str, counting: Counting | str = DEFAULT) -> Configured:
    name, values = parse_configured(text)
    variant = values.pop("variant", None)
    model = load_model(name, variant)
    resolution = values.pop("res", values.pop("resolution", None))
    point = model.point(
        alpha=values.pop("alpha", None),
        resolution=resolution,
        rho=values.pop("rho", None),
        classes=values.pop("classes", None),
        values=values,
    )
    costs = model.costs(point, counting)
    totals = {
        "params": int(costs.params),
        "macs": int(costs.macs),
        "size": int(costs.params) * BYTES_PER_VALUE["float32"],
        "peak_memory": activation_memory(costs)["peak_bytes"],
    }
    by_type = {label: {"params": int(r["params"]), "macs": int(r["macs"])} for label, r in costs.by_op_type().items()}
    return Configured(text, model, point, totals, by_type)


@dataclass
class Comparison(Tabular):
    configured: list[Configured]

    def totals(self) -> list[dict[str, Any]]:
        """One row per metric: each configuration's value, and its difference and ratio to the first."""
        first = self.configured[0]
        rows = []
        for metric in TOTALS:
            row: dict[str, Any] = {"metric": metric}
            for c in self.configured:
                row[c.text] = c.totals[metric]
            for c in self.configured[1:]:
                row[f"Δ {c.text}"] = c.totals[metric] - first.totals[metric]
                row[f"× {c.text}"] = _ratio(c.totals[metric], first.totals[metric])
            rows.append(row)
        return rows

    def by_type(self, metric: str) -> list[dict[str, Any]]:
        labels: list[str] = []
        for c in self.configured:
            labels += [label for label in c.by_type if label not in labels]
        first = self.configured[0]
        rows = []
        for label in labels:
            row: dict[str, Any] = {"type": label}
            for c in self.configured:
                row[c.text] = c.by_type.get(label, {}).get(metric, 0)
            if not any(row[c.text] for c in self.configured):
                continue  # a type that costs nothing of this metric anywhere (ReLU's MACs)
            for c in self.configured[1:]:
                row[f"× {c.text}"] = _ratio(row[c.text], row[first.text])
            rows.append(row)
        return rows

    def to_records(self) -> list[dict[str, Any]]:
        return self.totals()


def _ratio(value: int, base: int) -> float | None:
    return float(Fraction(value, base)) if base else None


def compare(texts: Sequence[str], counting: Counting | str = DEFAULT) -> Comparison:
    if len(texts) < 2:
        raise UsageError("compare takes at least two models")
    return Comparison([configure(t, counting) for t in texts])
