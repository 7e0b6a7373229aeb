"""Exact costs of a model over arrays of points: what sweeps, solvers, pickers and comparisons call.

Every metric comes from a compiled closed form (:mod:`costmodel.compiled`), never from counting the
network again point by point: MACs, parameters and other ops directly; FLOPs and model size from
them; peak activation memory from each layer's compiled output size and presence, run through the
one liveness rule (:func:`costmodel.costs.liveness`) for every group of points that share the same
layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from costmodel import limits, symbolic
from costmodel.compiled import Evaluator
from costmodel.conventions import DEFAULT, Counting, get_counting
from costmodel.costs import BYTES_PER_VALUE, liveness, makes_tensor
from costmodel.errors import UsageError
from costmodel.forms import ClosedForm
from costmodel.model import Model
from costmodel.ops import product

METRICS = ("macs", "params", "flops", "other_ops", "size", "peak_memory")
ACTIVATION_BYTES = BYTES_PER_VALUE["float32"]  # activations are counted at float32, as the reports do
MEMORY_CHUNK_BYTES = 64 << 20  # the tensor sizes of a run of grid points held at once for the peak


class CostGrid:
    """Exact metrics of ``model`` at arrays of points (the keywords of :class:`Evaluator`).

    ``size`` is the model's weights at ``dtype`` (float32, float16 or int8), ``peak_memory`` the peak
    of the float32 activations alive at once, both in bytes.
    """

    def __init__(self, model: Model, counting: Counting | str = DEFAULT, dtype: str = "float32") -> None:
        if dtype not in BYTES_PER_VALUE:
            raise UsageError(f"unknown dtype '{dtype}' (dtypes: {', '.join(BYTES_PER_VALUE)})")
        self.model = model
        self.counting = get_counting(counting)
        self.dtype = dtype
        self._evaluators: dict[str, Evaluator] = {}
        self._memory: Evaluator | None = None

    def evaluator(self, metric: str) -> Evaluator:
        if metric not in self._evaluators:
            self._evaluators[metric] = symbolic.compile(self.model, metric, self.counting)
        return self._evaluators[metric]

    def __call__(self, metrics: Sequence[str], **values: Any) -> dict[str, np.ndarray]:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise UsageError(f"unknown metric '{unknown[0]}' (metrics: {', '.join(METRICS)})")
        if "peak_memory" in metrics:  # refused before any form is built
            self._check_work(_grid_shape(values))
        result: dict[str, np.ndarray] = {}
        for metric in metrics:
            if metric in ("macs", "params", "other_ops"):
                result[metric] = self._call(self.evaluator(metric), values)
            elif metric == "flops":
                result[metric] = 2 * self._call(self.evaluator("macs"), values)
            elif metric == "size":
                result[metric] = self._call(self.evaluator("params"), values) * BYTES_PER_VALUE[self.dtype]
            else:
                result[metric] = self._peak_memory(**values)
        return result

    def _check_work(self, shape: tuple[int, ...]) -> None:
        """Refuse a peak memory at more points times layers than the limit."""
        layers = len(self.model.structure.order)
        work = int(np.prod(shape, dtype=np.int64)) * layers
        if work > limits.current().grid_layers:
            raise limits.exceeded(
                "grid_layers",
                f"the peak memory at {work // max(layers, 1):,} points of {layers:,} layers each (a coarser grid: "
                "a larger --step, fewer resolutions)",
                f"{work:,}",
            )

    @staticmethod
    def _call(evaluator: Evaluator, values: Mapping[str, Any]) -> np.ndarray:
        try:
            return evaluator(**values)
        except ValueError as err:
            raise UsageError(str(err)) from None

    def _peak_memory(self, **values: Any) -> np.ndarray:
        """Peak bytes of float32 activations alive at once, at every point: in runs of rows of the grid
        small enough that every tensor's size at each of their points fits in :data:`MEMORY_CHUNK_BYTES`
        (a grid of 60,000 points over 10,000 layers would hold 5 GB at once)."""
        shape = _grid_shape(values)
        per_point = 8 * (2 * len(self.model.structure.order) + 1)
        rows = max(1, MEMORY_CHUNK_BYTES // (int(np.prod(shape[1:], dtype=np.int64)) * per_point))
        if not shape or shape[0] <= rows:
            return self._peak_of_rows(**values)
        peaks = [
            self._peak_of_rows(**{name: _rows(v, len(shape), slice(start, start + rows)) for name, v in values.items()})
            for start in range(0, shape[0], rows)
        ]
        return np.concatenate([np.broadcast_to(p, (p.shape[0], *shape[1:])) for p in peaks])

    def _peak_of_rows(self, **values: Any) -> np.ndarray:
        network = self.model.symbolic_network
        if self._memory is None:
            exprs: dict[str, Any] = {"input": product(network.input_shape)}
            for node in network.nodes:
                exprs[f"size:{node.name}"] = product(node.output_shape)
                if not isinstance(node.present, bool):
                    exprs[f"present:{node.name}"] = sympy.Piecewise((1, node.present), (0, True), evaluate=False)
            form = ClosedForm(dict(network.definitions), sympy.Integer(0))
            base = self.evaluator("macs")  # the symbols, domains and sizes, whatever the counting
            self._memory = Evaluator(
                form, base.symbols, base.defaults, None, base.resolution, base.sizes, base.domains, exprs
            )
        try:
            arrays = self._memory.many(**values)
        except ValueError as err:
            raise UsageError(str(err)) from None
        shape = arrays["input"].shape
        size = int(np.prod(shape, dtype=np.int64))
        conditional = [n for n in network.nodes if not isinstance(n.present, bool)]
        peak = np.zeros(size, dtype=arrays["input"].dtype)
        # the points that share which layers are present run the liveness together
        if conditional:
            bits = np.stack([arrays[f"present:{n.name}"].reshape(-1) != 0 for n in conditional])
            packed = np.ascontiguousarray(np.packbits(bits, axis=0).T)
            keys = packed.view(np.dtype((np.void, packed.shape[1]))).reshape(-1)
            _, first, group = np.unique(keys, return_index=True, return_inverse=True)
            patterns = [dict(zip((n.name for n in conditional), bits[:, i], strict=True)) for i in first]
        else:
            group, patterns = np.zeros(size, dtype=np.int64), [{}]
        for index, present in enumerate(patterns):
            where = group.reshape(-1) == index
            steps = [
                (n.name, n.inputs, makes_tensor(n.op, bool(present.get(n.name, n.present)))) for n in network.nodes
            ]
            sizes = {n.name: arrays[f"size:{n.name}"].reshape(-1)[where] for n in network.nodes}
            top, _ = liveness(steps, arrays["input"].reshape(-1)[where], sizes)
            peak[where] = top
        return peak.reshape(shape) * ACTIVATION_BYTES


def _grid_shape(values: Mapping[str, Any]) -> tuple[int, ...]:
    """The shape the grid's values broadcast to (an exact value is a pair of arrays)."""
    return np.broadcast_shapes(*(np.shape(a) for v in values.values() for a in (v if isinstance(v, tuple) else (v,))))


def _rows(value: Any, ndim: int, part: slice) -> Any:
    """A grid value's rows ``part`` (the first axis of a grid of ``ndim`` axes); a value the same on
    every row, or a number, stays as it is, so that each run keeps the grid's shape."""
    if isinstance(value, tuple):
        return tuple(_rows(v, ndim, part) for v in value)
    if np.ndim(value) == 0:
        return value
    array = np.asarray(value)
    array = array.reshape((1,) * (ndim - array.ndim) + array.shape)
    return array if array.shape[0] == 1 else array[part]


def point_values(model: Model, point: Any) -> dict[str, Any]:
    """A point as the grid's keywords: the input side as ``resolution``, every other symbol exactly."""
    values: dict[str, Any] = {}
    for name, value in point.values.items():
        if name == model.roles.resolution and point.resolution is not None and model.base_resolution is not None:
            values["resolution"] = point.resolution
        else:
            values[name] = str(value)
    return values


def exact_values(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers as exact (numerators, denominators) arrays, for the evaluators."""
    fractions = [Fraction(v) for v in values]
    return np.array([f.numerator for f in fractions]), np.array([f.denominator for f in fractions])
