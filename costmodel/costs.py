"""Parameters, MACs, other ops and activation memory of an evaluated network.

The same functions serve both number systems: on a concrete :class:`~costmodel.graph.Network` they give
exact integers, on a symbolic one sympy closed forms (a layer that exists only under a condition is
multiplied by that condition through ``Piecewise``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from costmodel import intmath, macs_conventions
from costmodel.conventions import Counting
from costmodel.graph import Network, Node
from costmodel.ops import BIAS, NORM_AFFINE, NORM_STATS, WEIGHT, Shape, product

BYTES_PER_VALUE = {"float32": 4, "float16": 2, "int8": 1}
BREAKDOWN_NAMES = {WEIGHT: "weights", BIAS: "biases", NORM_AFFINE: "norm_affine", NORM_STATS: "norm_stats"}


@dataclass(eq=False, slots=True)
class LayerCost:
    """One layer's counts (not frozen, as :class:`~costmodel.graph.Node`: one per layer per count)."""

    name: str
    op: str
    label: str
    group: str
    line: int
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    present: Any
    params_by_kind: dict[str, Any]
    params: Any
    macs: Any
    other_ops: Any
    added: Any = 0  # what the MACs convention adds to the paper's count (in ``macs``)
    rule: macs_conventions.Rule | None = None  # the MACs convention's rule for this layer, if any


@dataclass(repr=False)
class Costs:
    network: Network
    counting: Counting
    layers: list[LayerCost]
    params: Any = 0
    macs: Any = 0
    other_ops: Any = 0
    params_by_kind: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        """One line: what was counted and the totals (the layers are in ``layers``)."""
        point = ", ".join(f"{k}={_plain(v)}" for k, v in self.network.point.items())
        return (
            f"<Costs of {self.network.spec.name} at {point or 'its point'}: {_plain(self.params)} params, "
            f"{_plain(self.macs)} MACs, {len(self.layers)} layers, counting {self.counting.label}>"
        )

    def _repr_html_(self) -> str:
        """In a notebook: the totals and the cost by operator type, as a small table."""
        from html import escape

        rows = "".join(
            f"<tr><td>{escape(label)}</td><td style='text-align:right'>{_plain(r['params'])}</td>"
            f"<td style='text-align:right'>{_plain(r['macs'])}</td></tr>"
            for label, r in self.by_op_type().items()
        )
        return (
            f"<p><b>{escape(self.network.spec.name)}</b>: {_plain(self.params)} parameters "
            f"({escape(self.counting.label)}), {_plain(self.macs)} MACs</p>"
            f"<table><tr><th>type</th><th>params</th><th>MACs</th></tr>{rows}</table>"
        )

    def by_op_type(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for layer in self.layers:
            row = rows.setdefault(layer.label, {"layers": 0, "params": 0, "macs": 0})
            row["layers"] += 1 if layer.present is True else 0
            row["params"] += layer.params
            row["macs"] += layer.macs
        return rows

    def added_by_rule(self) -> dict[str, dict[str, Any]]:
        """What the MACs convention adds to the paper's count, per operator type: {op: {why, added}}."""
        rows: dict[str, dict[str, Any]] = {}
        for layer in self.layers:
            if layer.rule is not None:
                row = rows.setdefault(
                    layer.rule.op, {"why": layer.rule.why, "formula": layer.rule.formula(), "added": 0}
                )
                row["added"] += layer.added
        return rows

    @property
    def paper_macs(self) -> Any:
        """The multiply-accumulates alone, whatever the MACs convention adds."""
        return self.macs - _total(layer.added for layer in self.layers)

    def by_group(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for layer in self.layers:
            row = rows.setdefault(layer.group, {"params": 0, "macs": 0})
            row["params"] += layer.params
            row["macs"] += layer.macs
        return rows

    def prefix_sum(self, prefix: str, metric: str) -> Any:
        """The total of ``metric`` over a layer and everything inside it (``fire2`` → ``fire2.*``)."""
        total: Any = 0
        for layer in self.layers:
            if layer.name == prefix or layer.name.startswith(prefix + "."):
                total += getattr(layer, metric)
        return total


def _plain(value: Any) -> str:
    """A count as a person reads it: 4,231,976; an exact fraction as a decimal; a formula as it is."""
    if isinstance(value, int):
        return f"{value:,}"
    if intmath.is_number(value):
        return f"{float(value):g}"
    return str(value)


def foldable_norms(network: Network, present_only: bool = False) -> dict[str, Node]:
    """Batch norms that fold into the layer before them: norm name -> host (conv or linear) node.

    The one rule of ``--counting folded``, the executor's folded run and the folded ONNX export: a
    layer that folds into its host (a batch norm) whose only input is a layer that takes it (a conv or
    linear layer, but not one per token, whose outputs are not the norm's channels) and feeds nothing
    else. ``present_only``
    keeps the pairs that exist at a concrete point (both layers present).
    """
    consumers: dict[str, int] = {}
    for node in network.nodes:
        for source in node.inputs:
            consumers[source] = consumers.get(source, 0) + 1
    by_name = {node.name: node for node in network.nodes}
    result = {}
    for node in network.nodes:
        if not node.op.folds_into_host or len(node.inputs) != 1:
            continue
        host = by_name.get(node.inputs[0])
        if host is None or not host.op.takes_folded_norm or consumers.get(host.name) != 1:
            continue
        if getattr(host.op, "flatten", True) is False and len(host.output_shape) > 1:
            continue  # a linear layer per token: the norm's channels (axis 0) are the tokens, not its outputs
        if present_only and (node.present is not True or host.present is not True):
            continue
        result[node.name] = host
    return result


def count(network: Network, counting: Counting, seen: dict[Any, tuple[Any, ...]] | None = None) -> Costs:
    """The costs of ``network`` under ``counting``. ``seen`` holds what a layer counts whatever the
    preset (its operator, shapes and presence decide it): pass one per network to count it under
    several presets without working each layer out again."""
    foldable = foldable_norms(network) if counting.fold_norms else {}
    seen = {} if seen is None else seen  # layers alike in operator, shapes and presence count alike
    layers = [_layer_cost(node, counting, foldable, seen) for node in network.nodes]
    if counting.macs.rules:
        hosts = {host.name for host in foldable.values()}
        for layer, node in zip(layers, network.nodes, strict=True):
            _add_convention(layer, node, counting, node.name in foldable, node.name in hosts)
    if all(intmath.is_number(value) for value in network.point.values()):
        # a concrete network: plain sums in one pass (a 15,000-layer network is counted a dozen times
        # by `check`)
        totals = dict.fromkeys(BREAKDOWN_NAMES, 0)
        params = macs = other = 0
        for layer in layers:
            for kind, value in layer.params_by_kind.items():
                if value:
                    totals[kind] += value
            params += layer.params
            macs += layer.macs
            other += layer.other_ops
    else:
        totals = {kind: _total(layer.params_by_kind[kind] for layer in layers) for kind in BREAKDOWN_NAMES}
        params = _total(layer.params for layer in layers)
        macs = _total(layer.macs for layer in layers)
        other = _total(layer.other_ops for layer in layers)
    return Costs(network, counting, layers, params, macs, other, totals)


def _layer_cost(
    node: Node, counting: Counting, foldable: dict[str, Node], seen: dict[Any, tuple[Any, ...]]
) -> LayerCost:
    """One layer's counts: numbers where it is present or absent, ``Piecewise`` where that depends
    on the symbols. Worked out once per distinct (operator, shapes, presence) in ``seen``: a network
    repeats its blocks, and their counts (``params_by_kind`` shared, never changed) with them."""
    folded = node.name in foldable
    key = None if folded else (node.op, node.input_shapes, node.output_shape, node.present)
    try:
        found = seen.get(key) if key is not None else None
    except TypeError:  # an operator holding an unhashable value: counted on its own
        key = found = None
    if found is None:
        found = _counts(node, foldable, folded)
        if key is not None:
            seen[key] = found
    label, by_kind, macs, other = found
    counted = [v for kind, v in by_kind.items() if kind in counting.kinds or (folded and kind == BIAS)]
    if counting.fold_norms and not folded and node.op.folds_into_host:
        counted.append(by_kind[NORM_AFFINE])
    return LayerCost(
        name=node.name,
        op=node.op.op_name,
        label=label,
        group=node.group,
        line=node.line,
        input_shapes=node.input_shapes,
        output_shape=node.output_shape,
        present=node.present,
        params_by_kind=by_kind,
        params=sum(counted, 0),  # a few terms: no quadratic re-sorting of sympy sums
        macs=macs,
        other_ops=other,
    )


def _add_convention(layer: LayerCost, node: Node, counting: Counting, folded: bool, host: bool) -> None:
    """Add what ``counting.macs`` counts of this layer beyond the paper's MACs to ``layer.macs``. A
    folded batch norm is gone; the conv it folds into gains its bias."""
    rule = None if folded else macs_conventions.rule_of(counting.macs, node.op)
    if rule is None:
        return
    biased = host or bool(getattr(node.op, "bias", False))
    affine = layer.params_by_kind[NORM_AFFINE]
    extra = macs_conventions.added(rule, node.input_shapes, node.output_shape, affine, biased)
    if node.present is not True:
        extra = 0 if node.present is False else intmath.where(node.present, extra, 0)
    layer.added, layer.rule = extra, rule
    layer.macs = layer.macs + extra


def _counts(node: Node, foldable: dict[str, Node], folded: bool) -> tuple[Any, ...]:
    """(type label, parameters by kind, MACs, other ops) of one layer, whatever the preset."""
    inputs = list(node.input_shapes)
    present = node.present
    by_kind: dict[str, Any] = dict.fromkeys(BREAKDOWN_NAMES, 0)
    if folded:
        host = foldable[node.name]
        by_kind[BIAS] = 0 if getattr(host.op, "bias", False) else node.input_shapes[0][0]
    else:
        for array in node.op.weights(inputs).values():
            by_kind[array.kind] += array.size
    if present is True:
        macs = node.op.macs(inputs, node.output_shape)
        other = node.op.other_ops(inputs, node.output_shape)
    elif present is False:
        by_kind = dict.fromkeys(BREAKDOWN_NAMES, 0)
        macs = other = 0
    else:
        by_kind = {kind: intmath.where(present, v, 0) for kind, v in by_kind.items()}
        macs = intmath.where(present, node.op.macs(inputs, node.output_shape), 0)
        other = intmath.where(present, node.op.other_ops(inputs, node.output_shape), 0)
    return node.op.type_label(inputs), by_kind, macs, other


def _total(values: Iterable[Any]) -> Any:
    """A sum of numbers, or of sympy expressions in one step (adding them one by one re-sorts the
    growing sum each time: quadratic in the layers)."""
    values = list(values)
    if all(intmath.is_number(v) for v in values):
        return sum(values, 0)
    import sympy

    return sympy.Add(*values)


def activation_memory(costs: Costs, bytes_per_value: int = 4) -> dict[str, int]:
    """Bytes of every tensor, and the peak of those alive at once along the execution order.

    A tensor lives from the layer that makes it to the last layer that reads it; nothing is assumed
    to run in place. Absent layers (a residual add that does not exist at this point) make none.
    """
    steps, input_size, sizes = _tensors(costs.network)
    peak, total = liveness(steps, input_size, sizes)
    return {"peak_bytes": int(peak) * bytes_per_value, "total_bytes": int(total) * bytes_per_value}


def _tensors(network: Network) -> tuple[list[tuple[str, tuple[str, ...], bool]], Any, dict[str, Any]]:
    """The run as :func:`liveness` reads it: (layer, inputs, makes a tensor) steps, the input's
    elements and each layer's output elements."""
    steps = [(node.name, node.inputs, makes_tensor(node.op, node.present)) for node in network.nodes]
    sizes = {node.name: product(node.output_shape) for node in network.nodes}
    return steps, product(network.input_shape), sizes


def execution_bytes(network: Network, batch: int = 1, copies_of_weights: int = 2) -> int:
    """What running ``network`` on a float32 batch would allocate, estimated before anything is: the
    declared weights (``copies_of_weights`` times: the seeded or loaded arrays and their folded or
    serialised copy) and, per image, the tensors alive at the peak plus twice the largest tensor (a
    kernel's temporaries). Checked against the memory limit so that an input of 100,000 pixels a side
    is refused in a millisecond instead of failing in NumPy's allocator."""
    weights = sum(
        int(product(array.shape))
        for node in network.nodes
        if node.present is True
        for array in node.op.weights(list(node.input_shapes)).values()
    )
    steps, input_size, sizes = _tensors(network)
    peak, _ = liveness(steps, input_size, sizes)
    largest = max([input_size, *sizes.values()])
    return BYTES_PER_VALUE["float32"] * int(copies_of_weights * weights + batch * (peak + 2 * largest))


def makes_tensor(op: Any, present: Any) -> bool:
    """Whether a layer makes a tensor of its own: present (or possibly present), and not the identity."""
    return present is not False and not op.passes_input


def liveness(
    steps: Sequence[tuple[str, tuple[str, ...], bool]], input_size: Any, sizes: Mapping[str, Any]
) -> tuple[Any, Any]:
    """(peak, total) elements of the tensors of a run: ``steps`` are (layer, its inputs, whether it is
    present) in execution order, ``sizes`` each layer's output elements. Sizes may be NumPy arrays
    (many points with the same layers present at once): the rule is the same, element by element.
    An absent layer reads nothing but its last input, which it passes through: that tensor lives on
    in its place (the executor's rule, :class:`costmodel.executor.Session`).
    """
    alias: dict[str, str] = {}
    for name, inputs, present in steps:
        if not present:
            alias[name] = alias.get(inputs[-1], inputs[-1])
    last_use: dict[str, int] = {}
    for step, (_, inputs, present) in enumerate(steps):
        for source in inputs if present else inputs[-1:]:
            last_use[alias.get(source, source)] = step
    live: dict[str, Any] = {"input": input_size}
    total = peak = input_size
    for step, (name, inputs, present) in enumerate(steps):
        if present:
            live[name] = sizes[name]
            total = total + live[name]
        now = sum(live.values())
        peak = max(peak, now) if isinstance(now, int) and isinstance(peak, int) else _maximum(peak, now)
        for source in inputs if present else inputs[-1:]:
            source = alias.get(source, source)
            if last_use.get(source) == step and source in live and source != name:
                del live[source]
    return peak, total


def _maximum(a: Any, b: Any) -> Any:
    import numpy

    return numpy.maximum(a, b)
