"""The runtime check: run a network in NumPy and compare every layer with the counts and closed forms.

:func:`verify` is what ``costmodel verify`` prints: per layer, presence and output shape, parameters
(every array the executor allocated, and the counting convention's share) and MACs (from the operand
shapes of the products the kernels ran), each against the count at the point and the exact closed form
evaluated there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from costmodel import symbolic
from costmodel.conventions import get_counting
from costmodel.executor import Record, Session, seeded_input, seeded_weights
from costmodel.model import Model, Point


@dataclass(frozen=True)
class Disagreement:
    layer: str
    check: str
    executor: Any
    count: Any
    closed_form: Any


@dataclass
class Verification:
    """The executor against the counts and the closed forms at one point."""

    model: Model
    point: Point
    counting: str
    records: list[Record]
    macs: int
    params: int
    disagreements: list[Disagreement]
    layer_params: dict[str, int] = field(default_factory=dict)  # per layer, in the counting's share

    @property
    def ok(self) -> bool:
        return not self.disagreements


def _closed_shapes(model: Model, point: Point) -> dict[str, tuple[bool, tuple[int, ...]]]:
    """Presence and output shape of every layer, from the symbolic network substituted at the point."""
    import sympy

    substitution = model.substitution(point)
    result = {}
    for node in model.symbolic_network.nodes:
        present = node.present
        if not isinstance(present, bool):
            present = bool(sympy.sympify(present).xreplace(substitution))
        shape = []
        for size in node.output_shape:
            value = sympy.sympify(size).xreplace(substitution)
            shape.append(int(value) if value.is_Integer else str(value))
        result[node.name] = (present, tuple(shape))
    return result


def _closed(model: Model, metric: str, counting: str, point: Point) -> dict[str, int]:

    return {
        name: symbolic.evaluate(expr, model, point)
        for name, expr in symbolic.per_layer(model, metric, counting).items()
    }


def verify(model: Model, point: Point, counting: str = "torchvision", seed: int = 0) -> Verification:
    """Run the network at ``point`` and compare every layer with the counts and the exact closed forms.

    Checked per layer: presence and output shape; the parameters (every array the executor allocated,
    against the ``keras`` count that includes every kind; and the ``counting`` convention's share);
    the MACs. The pass runs every layer on its own, as the spec declares it; ``counting='folded'`` runs
    a second pass with the batch norms folded into the convs (a session), compares its output with the
    first, and counts the arrays as that pass deploys them.
    """
    import numpy as np

    convention = get_counting(counting)
    network = model.network(point)
    weights = seeded_weights(network, seed)
    x = seeded_input(network, 1, seed)
    output, records = Session(network, weights, fuse=False).run(x)  # every layer on its own, as declared
    disagreements: list[Disagreement] = []

    def compare(layer: str, check: str, executor: Any, count: Any, closed: Any) -> None:
        if not (executor == count == closed):
            disagreements.append(Disagreement(layer, check, executor, count, closed))

    by_name = {r.name: r for r in records}
    checks: list[tuple[str, dict[str, int], Any, dict[str, int]]] = []
    all_costs = model.costs(point, "keras")
    executor_all = {r.name: r.params for r in records}
    checks.append(("params (all arrays)", executor_all, all_costs, _closed(model, "params", "keras", point)))
    executor_params = executor_all
    if counting != "keras":
        if convention.fold_norms:
            folded_output, folded = Session(network, weights, fold=True).run(x)  # norms folded into the convs
            scale = float(np.abs(output).max()) or 1.0
            error = float(np.abs(folded_output - output).max()) / scale
            if error > 1e-4:
                compare("output", "folded output (max error / max |y|)", f"{error:.2g}", "<= 1e-4", "<= 1e-4")
            executor_params = {r.name: r.params for r in folded}
        else:
            executor_params = {
                r.name: sum(v for k, v in r.params_by_kind.items() if k in convention.kinds) for r in records
            }
        counted = model.costs(point, counting)
        checks.append((f"params ({counting})", executor_params, counted, _closed(model, "params", counting, point)))
    checks.append(("MACs", {r.name: r.macs for r in records}, all_costs, _closed(model, "macs", "keras", point)))

    closed_shapes = _closed_shapes(model, point)
    for node in network.nodes:
        record = by_name.get(node.name)
        closed_present, closed_shape = closed_shapes.get(node.name, (None, None))
        compare(node.name, "present", record is not None, node.present is True, closed_present)
        if record is not None:
            shape = tuple(int(s) for s in node.output_shape)
            compare(node.name, "output shape", record.output_shape, shape, closed_shape)
    names = [node.name for node in network.nodes]
    for check, executor, costs, closed in checks:
        metric = "macs" if check == "MACs" else "params"
        counted = {layer.name: getattr(layer, metric) for layer in costs.layers}
        for name in names + sorted(set(closed) - set(names)):
            compare(name, check, executor.get(name, 0), counted.get(name, 0), closed.get(name, 0))
    macs = sum(r.macs for r in records)
    params = sum(executor_params.values())
    return Verification(model, point, counting, records, macs, params, disagreements, executor_params)


def point_label(model: Model, point: Point) -> str:
    """``mobilenet_v1 α=0.75 192×192`` (plus the variant and any other symbol off its default)."""
    from costmodel.intmath import exact_number

    parts = [model.name + (f" [{model.spec.variant}]" if model.spec.variant else "")]
    for name, value in point.values.items():
        default = exact_number(model.spec.symbols[name].default)
        if name == "alpha":
            parts.append(f"α={_number(value)}")
        elif name != "rho" and value != default:
            parts.append(f"{name}={_number(value)}")
    if point.resolution is not None:
        parts.append(f"{point.resolution}×{point.resolution}")
    return " ".join(parts)


def _number(value: Any) -> str:
    return str(value.numerator) if value.denominator == 1 else format(float(value), "g")


ALL_POINTS: tuple[dict[str, Any], ...] = (
    {},
    {"resolution": 97},
    {"resolution": 161, "classes": 10},
)
ALPHA_POINTS: tuple[dict[str, Any], ...] = (
    {"alpha": "0.35", "resolution": 161},
    {"alpha": "1.3", "resolution": 97},
    {"alpha": "0.75", "resolution": 192},
)


def all_points(model: Model) -> list[Any]:
    """The points ``verify --all`` runs a model at: default, odd resolutions, non-standard α."""
    chosen = list(ALL_POINTS)
    if "alpha" in model.spec.symbols:
        chosen += ALPHA_POINTS
    points = []
    for values in chosen:
        if "classes" in values and "num_classes" not in model.spec.symbols:
            values = {k: v for k, v in values.items() if k != "classes"}
        if "resolution" in values and model.base_resolution is None:
            values = {k: v for k, v in values.items() if k != "resolution"}
        point = model.point(**values)
        if point not in points:
            points.append(point)
    return points
