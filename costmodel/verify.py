"""The runtime check: run a network in NumPy and compare every layer with the counts and closed forms.

:func:`verify` is what ``costmodel verify`` prints: per layer, presence and output shape, parameters
(every array the executor allocated, and the counting convention's share) and MACs (from the operand
shapes of the products the kernels ran), each against the count at the point and the exact closed form
evaluated there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from costmodel import limits, symbolic
from costmodel.conventions import DEFAULT, Counting, get_counting
from costmodel.costs import Costs, execution_bytes
from costmodel.errors import show_number
from costmodel.executor import Record, Session, seeded_input, seeded_weights
from costmodel.model import Model, Point, PointOptions


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
    counting: Counting
    records: list[Record]
    macs: int
    params: int
    disagreements: list[Disagreement]
    layer_params: dict[str, int] = field(default_factory=dict)  # per layer, in the counting's share

    @property
    def ok(self) -> bool:
        return not self.disagreements


def _closed_shapes(model: Model, point: Point) -> dict[str, tuple[bool, tuple[int | str, ...]]]:
    """Presence and output shape of every layer, from the symbolic network substituted at the point."""
    import sympy

    substitution = model.substitution(point)
    result = {}
    for node in model.symbolic_network.nodes:
        present = node.present
        if not isinstance(present, bool):
            present = bool(sympy.sympify(present).xreplace(substitution))
        shape: list[int | str] = []
        for size in node.output_shape:
            value = sympy.sympify(size).xreplace(substitution)
            shape.append(int(value) if value.is_Integer else str(value))
        result[node.name] = (present, tuple(shape))
    return result


def verify(model: Model, point: Point, counting: Counting | str = DEFAULT, seed: int = 0) -> Verification:
    """Run the network at ``point`` and compare every layer with the counts and the exact closed forms.

    Checked per layer: presence and output shape; the parameters (every array the executor allocated,
    against the ``keras`` count that includes every kind; and the ``counting`` convention's share);
    the MACs. The pass runs every layer on its own, as the spec declares it; ``counting='folded'`` runs
    a second pass with the batch norms folded into the convs (a session), compares its output with the
    first, and counts the arrays as that pass deploys them.
    """
    import numpy as np

    convention = get_counting(counting).with_macs("paper")  # the executor counts what it multiplies
    everything = get_counting("keras")  # every kind of weight array counts
    network = model.network(point)
    limits.check_memory(execution_bytes(network, batch=1, copies_of_weights=3), f"verifying {model.name} here")
    weights = seeded_weights(network, seed)
    x = seeded_input(network, 1, seed)
    output, records = Session(network, weights, fuse=False).run(x)  # every layer on its own, as declared
    disagreements: list[Disagreement] = []

    def compare(layer: str, check: str, executor: Any, count: Any, closed: Any) -> None:
        if not (executor == count == closed):
            disagreements.append(Disagreement(layer, check, executor, count, closed))

    by_name = {r.name: r for r in records}
    checks: list[tuple[str, dict[str, int], Costs, dict[str, int]]] = []
    all_costs = model.costs(point, everything)
    executor_all = {r.name: r.params for r in records}
    checks.append(
        ("params (all arrays)", executor_all, all_costs, symbolic.per_layer_at(model, point, "params", everything))
    )
    executor_params = executor_all
    if convention != everything:
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
        counted = model.costs(point, convention)
        closed = symbolic.per_layer_at(model, point, "params", convention)
        checks.append((f"params ({convention.name})", executor_params, counted, closed))
    checks.append(
        ("MACs", {r.name: r.macs for r in records}, all_costs, symbolic.per_layer_at(model, point, "macs", everything))
    )

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
        by_layer = {layer.name: getattr(layer, metric) for layer in costs.layers}
        for name in names + sorted(set(closed) - set(names)):
            compare(name, check, executor.get(name, 0), by_layer.get(name, 0), closed.get(name, 0))
    macs = sum(r.macs for r in records)
    params = sum(executor_params.values())
    return Verification(model, point, convention, records, macs, params, disagreements, executor_params)


def point_label(model: Model, point: Point) -> str:
    """``mobilenet_v1 α=0.75 192×192`` (plus the variant and any other symbol off its default)."""
    parts = [model.name + (f" [{model.spec.variant}]" if model.spec.variant else "")]
    for name, value in point.values.items():
        if name == model.roles.width:
            parts.append(f"α={show_number(value)}")
        elif name != model.roles.resolution and value != model.spec.symbols[name].default:
            parts.append(f"{name}={show_number(value)}")
    if point.sides is not None:
        parts.append("×".join(map(str, point.sides)))
    return " ".join(parts)


# The points ``verify --all`` runs every model at (odd resolutions, another head, an input wider than
# high), and those with α.
ALL_POINTS = (
    PointOptions(),
    PointOptions(resolution="97"),
    PointOptions(resolution="161", classes="10"),
    PointOptions(resolution="113x209"),
)
ALPHA_POINTS = (
    PointOptions(alpha="0.35", resolution="161"),
    PointOptions(alpha="1.3", resolution="97"),
    PointOptions(alpha="0.75", resolution="192"),
)


def all_points(model: Model) -> list[tuple[Model, Point]]:
    """The points ``verify --all`` runs a model at, less what the model has no symbol for, each with the
    model it is a point of (the model with another aspect for a non-square input)."""
    chosen = list(ALL_POINTS) + (list(ALPHA_POINTS) if model.roles.width is not None else [])
    runs: list[tuple[Model, Point]] = []
    seen: list[tuple[Any, Point]] = []  # (the input's width rule, the point): what a run is
    for options in chosen:
        if model.roles.classes is None:
            options = replace(options, classes=None)
        if model.base_resolution is None:
            options = replace(options, resolution=None)
        shaped = options.reshape(model)
        point = options.resolve(shaped)
        if (shaped.spec.input_width, point) not in seen:
            seen.append((shaped.spec.input_width, point))
            runs.append((shaped, point))
    return runs
