"""ONNX export: a network at a point as a file onnxruntime runs.

:func:`export_model` writes an opset-17 ONNX model whose node names are the layer names and whose
initializers are named ``layer/array`` (``conv1/weight``), holding the executor's seeded weights (or any
weights keyed the same way). The input is ``input``, float32 ``[N, C, H, W]`` with a symbolic batch
``N``; the output is ``output``. With ``fold_bn`` every batch norm that folds into the layer before it
(:func:`costmodel.costs.foldable_norms`) is folded in (as deployed: the host gains a bias), the layout
that ``--counting folded`` counts. Each layer is written by its operator's ``to_onnx``; this module
only provides what they ask for (:class:`costmodel.ops.base.OnnxWriter`).

``onnx`` (and ``onnxruntime``, for running the result) are the optional extra ``costmodel[onnx]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costmodel import limits
from costmodel.atomic_write import write_bytes
from costmodel.costs import execution_bytes, foldable_norms
from costmodel.errors import SpecError
from costmodel.executor import Weights, seeded_weights
from costmodel.onnx_common import BATCH_DIM, INPUT_NAME, OPSET, OUTPUT_NAME, require_onnx
from costmodel.ops import norm as norm_rule
from costmodel.ops.base import Layer

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from costmodel.graph import Network
    from costmodel.model import Model, Point


def export_model(
    model: Model,
    point: Point,
    path: str | Path,
    weights: Weights | None = None,
    *,
    seed: int = 0,
    fold_bn: bool = False,
) -> None:
    """Write ``model`` at ``point`` as ONNX to ``path`` (whole file or nothing).

    ``weights`` maps layer names to named arrays shaped as the operators declare them; without it, the
    executor's seeded weights for ``seed`` (the same numbers ``costmodel run`` uses).
    """
    onnx = require_onnx()
    network = model.network(point)
    # the arrays, their copy in the message and its serialised bytes
    limits.check_memory(execution_bytes(network, batch=0, copies_of_weights=3), f"exporting {model.name} here")
    if weights is None:
        weights = seeded_weights(network, seed=seed)
    proto = to_onnx(network, weights, fold_bn=fold_bn, name=model.name)
    # checked as a file (the checker reads a path faster than a 200 MB message), before it replaces any
    write_bytes(path, proto.SerializeToString(), lambda tmp: onnx.checker.check_model(tmp, full_check=True))


def to_onnx(network: Network, weights: Weights, *, fold_bn: bool = False, name: str = "costmodel") -> Any:
    """The ONNX ``ModelProto`` of a concrete network (see the module docstring)."""
    require_onnx()
    return _Writer(network, weights, fold_bn).run(name)


class _Writer:
    """Builds the graph; each operator's ``to_onnx`` calls back into it (the OnnxWriter protocol)."""

    def __init__(self, network: Network, weights: Weights, fold_bn: bool) -> None:
        from onnx import helper

        self.helper = helper
        self.network = network
        self.weights_by_layer = weights
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.alias: dict[str, str] = {}  # layer name -> the tensor that holds its output
        # host name -> the batch norm folded into it
        folds = foldable_norms(network, present_only=True) if fold_bn else {}
        self.folds = {host.name: network.node(norm) for norm, host in folds.items()}
        self.folded = {norm.name for norm in self.folds.values()}

    # -- the OnnxWriter protocol ------------------------------------------------------------------

    def inputs(self, node: Layer) -> list[str]:
        return [self.tensor(i) for i in node.inputs]

    def emit(self, op_type: str, name: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        tensor = output or name
        self.nodes.append(self.helper.make_node(op_type, inputs, [tensor], name=name, **attrs))
        return tensor

    def constant(self, layer: str, name: str, value: np.ndarray) -> str:
        import numpy as np

        return self._initializer(layer, name, np.ascontiguousarray(value, dtype=np.float32))

    def integers(self, layer: str, name: str, values: list[int] | np.ndarray) -> str:
        import numpy as np

        return self._initializer(layer, name, np.array(values, dtype=np.int64))

    def _initializer(self, layer: str, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        full = f"{layer}/{name}"
        self.initializers.append(numpy_helper.from_array(array, full))
        return full

    def weights(self, node: Layer, transposed: bool = False, fixed: bool = False) -> list[str]:
        """The layer's arrays as initializers, in declaration order (which is ONNX's input order); a
        host with a batch norm folded into it has its folded weight and a bias; ``transposed``: the
        weight matrix as a MatMul takes it, (in, out); ``fixed``: as Constant nodes, which hold data
        rather than parameters."""
        declared = node.op.weights(list(node.input_shapes))
        arrays = {name: self.array(node, name, array.shape) for name, array in declared.items()}
        norm = self.folds.get(node.name)
        if norm is not None:
            stats = norm.op.weights(list(norm.input_shapes))
            norm_arrays = {name: self.array(norm, name, stats[name].shape) for name in norm_rule.NORM_ARRAYS}
            arrays["weight"], arrays["bias"] = norm_rule.fold(
                arrays["weight"], arrays.get("bias"), norm_arrays, float(getattr(norm.op, "eps", norm_rule.EPSILON))
            )
            self.alias[norm.name] = node.name
        if transposed:
            arrays["weight"] = arrays["weight"].T
        if fixed:
            from onnx import numpy_helper

            made = []
            for name, value in arrays.items():
                full = f"{node.name}/{name}"
                self.nodes.append(
                    self.helper.make_node("Constant", [], [full], name=full, value=numpy_helper.from_array(value, full))
                )
                made.append(full)
            return made
        return [self.constant(node.name, name, value) for name, value in arrays.items()]

    # -- the graph --------------------------------------------------------------------------------

    def tensor(self, layer: str) -> str:
        return self.alias.get(layer, layer)

    def array(self, node: Layer, name: str, expected: Sequence[Any]) -> np.ndarray:
        """The layer's array ``name`` as float32, checked against the shape its operator declares."""
        import numpy as np

        arrays = self.weights_by_layer.get(node.name, {})
        if name not in arrays:
            raise SpecError(f"no weight array '{name}' for this layer", layer=node.name)
        value = np.asarray(arrays[name], dtype=np.float32)
        if tuple(value.shape) != tuple(int(v) for v in expected):
            raise SpecError(
                f"weight array '{name}' has shape {list(value.shape)}, expected {[int(v) for v in expected]}",
                layer=node.name,
            )
        return value

    def run(self, name: str) -> Any:
        from onnx import TensorProto

        helper = self.helper
        for node in self.network.nodes:
            if node.present is False:
                self.alias[node.name] = self.tensor(node.inputs[-1])
                continue
            if node.present is not True:
                raise SpecError("the network must be evaluated at a concrete point to export it", layer=node.name)
            if node.name in self.folded:
                continue
            node.op.to_onnx(node, self)
        last = self.tensor(self.network.nodes[-1].name)
        if last == INPUT_NAME:
            self.emit("Identity", OUTPUT_NAME, [INPUT_NAME])
        else:
            for onnx_node in self.nodes:
                for i, value in enumerate(onnx_node.output):
                    if value == last:
                        onnx_node.output[i] = OUTPUT_NAME
                for i, value in enumerate(onnx_node.input):
                    if value == last:
                        onnx_node.input[i] = OUTPUT_NAME
        c, h, w = (int(v) for v in self.network.input_shape)
        out_shape = [BATCH_DIM, *(int(v) for v in self.network.nodes[-1].output_shape)]
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [BATCH_DIM, c, h, w])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, out_shape)],
            initializer=self.initializers,
        )
        proto = helper.make_model(
            graph,
            producer_name="costmodel",
            opset_imports=[helper.make_opsetid("", OPSET)],
            doc_string=f"{self.network.spec.title}, exported by costmodel",
        )
        proto.ir_version = 8  # opset 17's IR version: readable by older onnxruntime builds too
        return proto
