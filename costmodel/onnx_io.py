"""ONNX export and import: the same graph as a file onnxruntime runs, and any ONNX CNN as a costmodel.

**Export** (:func:`export_model`) writes a network at a point as an opset-17 ONNX model whose node names
are the layer names and whose initializers are named ``layer/array`` (``conv1/weight``), holding the
executor's seeded weights (or any weights keyed the same way). The input is ``input``, float32
``[N, C, H, W]`` with a symbolic batch ``N``; the output is ``output``. With ``fold_bn`` every batch norm
that follows a convolution or fully-connected layer is folded into it (as deployed: the host gains a
bias), the layout that ``--counting folded`` counts.

**Import** (:func:`import_model`) reads an ONNX CNN, infers its shapes, and writes what it finds as a
costmodel spec of concrete layers (every layer with an explicit ``name`` and ``from``), which then goes
through the same parser, graph expansion and :class:`~costmodel.model.Model` as a YAML spec: every
report, table and breakdown works on it. Node names are kept as layer names, whatever characters they
hold. A Flatten or flattening Reshape that only feeds a Gemm/MatMul is part of that fully-connected
layer (costmodel's ``linear`` flattens its input), and an Add of a 1-D constant after a MatMul is its
bias. Computations on constants and shapes (``Shape``, ``Gather``, ``Concat`` of constants...) are not
layers. Anything else that is not a supported operator is an error naming the operator and the node.
:func:`import_weights` reads the file's weights keyed as the executor takes them, so that
``executor.forward`` on the imported network computes what the file computes.

``onnx`` (and ``onnxruntime``, for running the result) are the optional extra ``costmodel[onnx]``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import yaml

from costmodel.costs import foldable_norms
from costmodel.errors import SpecError, UsageError

if TYPE_CHECKING:
    from costmodel.graph import Network, Node
    from costmodel.model import Model, Point

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"
BATCH_DIM = "N"
BN_EPSILON = 1e-5  # the executor's (and PyTorch's) batch-norm epsilon
NORM_ARRAYS = ("gamma", "beta", "running_mean", "running_var")  # BatchNormalization's inputs, in order
EXTRA_HINT = "pip install 'costmodel[onnx]'"


def require_onnx(what: str = "costmodel export") -> Any:
    """The ``onnx`` module, or a user error saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise UsageError(f"{what} needs the onnx extra: {EXTRA_HINT}") from None
    return onnx


# ================================================================================================
# export
# ================================================================================================


def export_model(
    model: Model,
    point: Point,
    path: str | Path,
    weights: dict[str, dict[str, np.ndarray]] | None = None,
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
    if weights is None:
        from costmodel.executor import seeded_weights

        weights = seeded_weights(network, seed=seed)
    proto = to_onnx(network, weights, fold_bn=fold_bn, name=model.name)
    # checked as a file (the checker reads a path faster than a 200 MB message), before it replaces any
    _write_bytes(proto.SerializeToString(), Path(path), lambda tmp: onnx.checker.check_model(tmp, full_check=True))


def _write_bytes(data: bytes, target: Path, check: Any = None) -> None:
    """Write ``data`` to ``target`` whole or not at all; ``check(path)`` vets the file before it lands."""
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if check is not None:
                check(tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise UsageError(f"cannot write {target}: {err.strerror}") from None


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding for one axis: (before, after), the odd pixel after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pair(value: Any) -> tuple[Any, Any]:
    return value if isinstance(value, tuple) else (value, value)


def _onnx_pads(pad: Any, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]) -> list[int]:
    """ONNX ``pads`` ([top, left, bottom, right]) for a costmodel ``pad`` attribute at concrete sizes."""
    if pad == "same":
        (top, bottom), (left, right) = (same_pads(s, k, st) for s, k, st in zip(size, kernel, stride, strict=True))
        return [top, left, bottom, right]
    if pad == "valid":
        return [0, 0, 0, 0]
    ph, pw = (int(v) for v in _pair(pad))
    return [ph, pw, ph, pw]


def foldable_norms_by_host(network: Network) -> dict[str, Node]:
    """Batch norms folded into the export: host name -> batch-norm node (costs.foldable_norms)."""
    return {host.name: network.node(norm) for norm, host in foldable_norms(network, present_only=True).items()}


class _Exporter:
    def __init__(self, network: Network, weights: dict[str, dict[str, np.ndarray]], fold_bn: bool) -> None:
        from onnx import helper

        self.helper = helper
        self.network = network
        self.weights = weights
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.alias: dict[str, str] = {}  # layer name -> the tensor that holds its output
        self.folds = foldable_norms_by_host(network) if fold_bn else {}
        self.folded = {norm.name for norm in self.folds.values()}

    def tensor(self, layer: str) -> str:
        return self.alias.get(layer, layer)

    def array(self, node: Node, name: str, kind: str = "") -> np.ndarray:
        arrays = self.weights.get(node.name)
        if arrays is None or name not in arrays:
            raise SpecError(f"no weight array '{name}' for this layer", layer=node.name)
        value = np.asarray(arrays[name], dtype=np.float32)
        expected = node.op.weights(list(node.input_shapes))[name].shape
        if tuple(value.shape) != tuple(int(v) for v in expected):
            raise SpecError(
                f"weight array '{name}' has shape {list(value.shape)}, expected {[int(v) for v in expected]}",
                layer=node.name,
            )
        return value

    def initializer(self, layer: str, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        full = f"{layer}/{name}"
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), full))
        return full

    def emit(self, op_type: str, name: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        output = output or name
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], name=name, **attrs))
        return output

    def run(self, name: str) -> Any:
        helper = self.helper
        from onnx import TensorProto

        for node in self.network.nodes:
            if node.present is False:
                self.alias[node.name] = self.tensor(node.inputs[-1])
                continue
            if node.present is not True:
                raise SpecError("the network must be evaluated at a concrete point to export it", layer=node.name)
            if node.name in self.folded:
                continue
            self.layer(node)
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
        out_shape = [BATCH_DIM, *(int(v) for v in self._output_shape())]
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

    def _output_shape(self) -> tuple:
        node = self.network.nodes[-1]
        return node.output_shape

    def layer(self, node: Node) -> None:
        op = node.op
        kind = op.op_name
        x = [self.tensor(i) for i in node.inputs]
        name = node.name
        shape = node.input_shapes[0]
        if kind == "conv2d":
            self.conv(node, x[0])
        elif kind == "linear":
            self.linear(node, x[0])
        elif kind == "batchnorm":
            names = [self.initializer(name, a, self.array(node, a)) for a in NORM_ARRAYS]
            self.emit("BatchNormalization", name, [x[0], *names], epsilon=BN_EPSILON)
        elif kind == "relu":
            self.emit("Relu", name, x)
        elif kind == "relu6":
            low = self.initializer(name, "min", np.array(0, dtype=np.float32))
            high = self.initializer(name, "max", np.array(6, dtype=np.float32))
            self.emit("Clip", name, [x[0], low, high])
        elif kind == "hard_swish":
            self.emit("HardSwish", name, x)
        elif kind == "hard_sigmoid":
            self.emit("HardSigmoid", name, x, alpha=1.0 / 6.0, beta=0.5)
        elif kind == "sigmoid":
            self.emit("Sigmoid", name, x)
        elif kind == "softmax":
            self.emit("Softmax", name, x, axis=1)
        elif kind == "dropout":
            self.emit("Identity", name, x)
        elif kind == "flatten":
            self.emit("Flatten", name, x, axis=1)
        elif kind in ("max_pool", "avg_pool"):
            k = tuple(int(v) for v in _pair(op.k))
            s = tuple(int(v) for v in _pair(op.stride if op.stride is not None else op.k))
            pads = _onnx_pads(op.pad, (int(shape[1]), int(shape[2])), k, s)
            attrs: dict[str, Any] = {"kernel_shape": list(k), "strides": list(s), "pads": pads}
            attrs["ceil_mode"] = int(bool(op.ceil_mode))
            if kind == "avg_pool":  # explicit padding counts in the divisor (PyTorch); TF's 'same' does not
                attrs["count_include_pad"] = 0 if op.pad == "same" else 1
            self.emit("MaxPool" if kind == "max_pool" else "AveragePool", name, x, **attrs)
        elif kind == "global_avg_pool":
            self.emit("GlobalAveragePool", name, x)
        elif kind == "adaptive_avg_pool":
            _, h, w = (int(v) for v in shape)
            oh, ow = (int(v) for v in _pair(op.size))
            if h % oh or w % ow:
                raise SpecError(
                    f"adaptive_avg_pool from {h}×{w} to {oh}×{ow} is not an ONNX AveragePool: the output side "
                    "must divide the input side (choose another resolution)",
                    layer=name,
                )
            k = [h // oh, w // ow]
            self.emit("AveragePool", name, x, kernel_shape=k, strides=k, pads=[0, 0, 0, 0], count_include_pad=1)
        elif kind == "concat":
            self.emit("Concat", name, x, axis=1)
        elif kind == "add":
            self.emit("Add" if len(x) == 2 else "Sum", name, x)
        elif kind == "mul":
            self.emit("Mul", name, x)
        else:
            raise SpecError(f"no ONNX mapping for operator '{kind}'", layer=name)

    def _fold(self, node: Node, weight: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Weight and bias of ``node`` with the batch norm after it folded in (in float64, then float32)."""
        norm = self.folds[node.name]
        gamma, beta, mean, var = (self.array(norm, a).astype(np.float64) for a in NORM_ARRAYS)
        scale = gamma / np.sqrt(var + BN_EPSILON)
        shape = (-1,) + (1,) * (weight.ndim - 1)
        folded_weight = weight.astype(np.float64) * scale.reshape(shape)
        base = bias.astype(np.float64) if bias is not None else np.zeros_like(mean)
        folded_bias = (base - mean) * scale + beta
        self.alias[norm.name] = node.name
        return folded_weight.astype(np.float32), folded_bias.astype(np.float32)

    def _weight_and_bias(self, node: Node) -> tuple[str, str | None]:
        weight = self.array(node, "weight")
        bias = self.array(node, "bias") if node.op.bias else None
        if node.name in self.folds:
            weight, bias = self._fold(node, weight, bias)
        w = self.initializer(node.name, "weight", weight)
        b = self.initializer(node.name, "bias", bias) if bias is not None else None
        return w, b

    def conv(self, node: Node, x: str) -> None:
        op = node.op
        _, h, w = (int(v) for v in node.input_shapes[0])
        k = tuple(int(v) for v in _pair(op.k))
        s = tuple(int(v) for v in _pair(op.stride))
        weight, bias = self._weight_and_bias(node)
        self.emit(
            "Conv",
            node.name,
            [x, weight] + ([bias] if bias else []),
            kernel_shape=list(k),
            strides=list(s),
            pads=_onnx_pads(op.pad, (h, w), k, s),
            dilations=[1, 1],
            group=int(op.groups),
        )

    def linear(self, node: Node, x: str) -> None:
        weight, bias = self._weight_and_bias(node)
        if len(node.input_shapes[0]) != 1:
            x = self.emit("Flatten", f"{node.name}/flatten", [x], axis=1)
        self.emit("Gemm", node.name, [x, weight] + ([bias] if bias else []), transB=1)


def to_onnx(
    network: Network, weights: dict[str, dict[str, np.ndarray]], *, fold_bn: bool = False, name: str = "costmodel"
) -> Any:
    """The ONNX ``ModelProto`` of a concrete network (see the module docstring)."""
    require_onnx()
    return _Exporter(network, weights, fold_bn).run(name)


# ================================================================================================
# import
# ================================================================================================

SUPPORTED = frozenset(
    {
        "Conv",
        "Gemm",
        "MatMul",
        "BatchNormalization",
        "Relu",
        "Clip",
        "HardSwish",
        "HardSigmoid",
        "Sigmoid",
        "Mul",
        "Add",
        "Sum",
        "Concat",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "ReduceMean",
        "Flatten",
        "Reshape",
        "Dropout",
        "Identity",
        "Constant",
        "Softmax",
    }
)
# Operators that only ever compute on constants and shapes here; as such they are not layers.
SHAPE_OPS = frozenset({"Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Cast", "Slice", "ConstantOfShape"})
FC_OPS = ("Gemm", "MatMul")
SMALL_CONSTANT = 4096  # initializers up to this many values are read (shapes, clip bounds); others only sized


def import_model(path: str | Path, display: str | None = None) -> Model:
    """Read an ONNX CNN as a :class:`~costmodel.model.Model` with concrete counts.

    Every layer's output shape as costmodel computes it is checked against ONNX's shape inference, so
    an attribute the counts would misread is an error rather than a wrong number.
    """
    shown = display or str(path)
    importer = _read(path, shown)
    spec_text, names = importer.spec()
    model = model_from_spec(spec_text, names, shown)
    for node in model.network(model.default_point()).nodes:
        expected = importer.shapes.get(importer.layer_outputs[node.name])
        if expected is None:
            continue
        got = tuple(int(v) for v in node.output_shape)
        want = tuple(expected[1:])
        same = got == want if len(got) == len(want) else math.prod(got) == math.prod(want)
        if not same:
            raise SpecError(
                f"costmodel's {node.op.op_name} gives an output of {list(got)}, ONNX's shape inference "
                f"{list(want)}: this node's attributes are not supported",
                file=shown,
                layer=node.name,
            )
    return model


def import_spec(path: str | Path, display: str | None = None) -> tuple[str, dict[str, str]]:
    """The costmodel spec (YAML text) of an ONNX file, and its layer names -> the ONNX node names."""
    return _read(path, display or str(path)).spec()


def import_weights(path: str | Path, display: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """The weights an ONNX file holds, keyed as costmodel's executor takes them (layer -> array name).

    With :func:`import_model`'s network, ``costmodel.executor.forward`` computes what the file computes
    (up to the batch-norm epsilon, which costmodel fixes at 1e-5, and padding put before rather than
    after where costmodel reads an odd asymmetric padding as TensorFlow's 'same').
    """
    from onnx import numpy_helper

    shown = display or str(path)
    importer = _read(path, shown)
    _, names = importer.spec()
    tensors = {init.name: init for init in importer.graph.initializer}
    weights: dict[str, dict[str, np.ndarray]] = {}
    for layer, arrays in importer.arrays.items():
        if layer in importer.absorbed or layer not in names.values():
            continue
        for array, (tensor, how, scale) in arrays.items():
            if tensor in tensors:
                value = numpy_helper.to_array(tensors[tensor])
            elif tensor in importer.constants:
                value = importer.constants[tensor]
            else:
                raise SpecError(f"its {array} is computed, not stored in the file", file=shown, layer=layer)
            value = value.T if how == "T" else value.reshape(-1) if how == "flat" else value
            if scale != 1.0:
                value = value * scale
            weights.setdefault(layer, {})[array] = np.ascontiguousarray(value, dtype=np.float32)
    return weights


def _read(path: str | Path, display: str) -> _Importer:
    onnx = require_onnx("reading ONNX files")
    try:
        proto = onnx.load(str(path))
    except Exception as err:  # protobuf's errors are many and undocumented
        raise SpecError(f"cannot read ONNX model: {err}", file=display) from None
    return _Importer(proto, display)


def model_from_spec(spec_text: str, names: dict[str, str], display: str) -> Model:
    """Parse, expand and evaluate a generated spec, with its layers renamed to the ONNX node names."""
    from costmodel.graph import INPUT, Structure, expand
    from costmodel.model import Model
    from costmodel.spec import parse_spec

    spec = parse_spec(spec_text, display)
    structure = expand(spec)
    rename = {INPUT: INPUT, **names}
    drafts = []
    for draft in structure.drafts.values():
        original = rename[draft.name]
        drafts.append(
            dataclasses.replace(
                draft,
                name=original,
                inputs=[rename[i] for i in draft.inputs],
                group=_group_of(original),
                line=0,
            )
        )
    graph = nx.relabel_nodes(structure.graph, rename)
    try:
        return Model(spec, Structure(spec, drafts, graph))
    except SpecError as err:  # the generated YAML's lines mean nothing to the user
        raise SpecError(err.message, file=display, layer=err.layer) from None


def _group_of(name: str) -> str:
    """The top-level unit a layer belongs to, for breakdowns by group.

    ``ir2.1.expand.conv`` -> ``ir2.1`` (costmodel's own names); ``/features/features.3/conv/Conv`` ->
    ``features.3`` (PyTorch's exporter).
    """
    if "/" in name:
        parts = [p for p in name.split("/") if p]
        if not parts:
            return name
        return parts[1] if len(parts) > 2 else parts[0]
    parts = name.split(".")
    group = [parts[0]]
    for part in parts[1:]:
        if not part.isdigit():
            break
        group.append(part)
    return ".".join(group)


def _identifier(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", name, flags=re.ASCII).strip("_") or "layer"
    if not base[0].isalpha():
        base = "n_" + base
    candidate, n = base, 1
    while candidate in taken or candidate == INPUT_NAME:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


@dataclasses.dataclass
class _OnnxNode:
    proto: Any
    name: str  # the layer name (the node's name, or one made up when it has none)
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]


class _Importer:
    def __init__(self, proto: Any, display: str) -> None:
        import onnx

        self.onnx = onnx
        self.display = display
        self.proto = proto
        self.graph = proto.graph
        self.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), OPSET)

    def fail(self, message: str, layer: str | None = None) -> SpecError:
        return SpecError(message, file=self.display, layer=layer)

    # -- reading ----------------------------------------------------------------------------------

    def spec(self) -> tuple[str, dict[str, str]]:
        nodes = self.named_nodes()
        for node in nodes:
            if node.proto.domain not in ("", "ai.onnx"):
                raise self.fail(f"unsupported ONNX operator '{node.proto.domain}.{node.op_type}'", node.name)
            if node.op_type not in SUPPORTED and node.op_type not in SHAPE_OPS:
                raise self.fail(f"unsupported ONNX operator '{node.op_type}'", node.name)
        self.constants = self.read_constants(nodes)
        input_name, (c, h, _) = self.image_input()
        self.shapes = self.infer_shapes(input_name)
        self.static = set(self.constant_shapes)
        self.nodes = []
        for node in nodes:
            constant_inputs = bool(node.inputs) and all(self.is_static(i) for i in node.inputs if i)
            if node.op_type in ("Constant", "Shape", "Size") or constant_inputs:
                self.static.update(node.outputs)  # shapes are fixed here: a Shape is a constant too
            elif node.op_type in SHAPE_OPS:
                raise self.fail(f"unsupported ONNX operator '{node.op_type}' on an activation", node.name)
            else:
                self.nodes.append(node)
        self.consumers: dict[str, list[_OnnxNode]] = {}
        for node in self.nodes:
            for i in node.inputs:
                self.consumers.setdefault(i, []).append(node)
        self.graph_outputs = {o.name for o in self.graph.output}

        self.source: dict[str, str] = {input_name: INPUT_NAME}  # tensor -> costmodel layer (original name)
        self.absorbed: set[str] = set()
        self.layer_outputs: dict[str, str] = {}  # layer name -> the ONNX tensor it makes
        # layer name -> costmodel array name -> (ONNX tensor, "" / "T" (transpose) / "flat", scale)
        self.arrays: dict[str, dict[str, tuple[str, str, float]]] = {}
        self.layers: list[dict[str, Any]] = []
        for node in self.nodes:
            if node.op_type in ("Flatten", "Reshape") and self.is_flatten(node):
                user = self.only_consumer(node.outputs[0])
                if user is not None and user.op_type in FC_OPS:
                    self.absorbed.add(node.name)  # part of the linear layer, which flattens its input
        for node in self.nodes:
            if node.name in self.absorbed:
                if node.op_type in ("Flatten", "Reshape"):
                    self.source[node.outputs[0]] = self.src(node.inputs[0], node)
                continue
            self.layer(node)

        taken: set[str] = set()
        ids = {INPUT_NAME: INPUT_NAME}
        for entry in self.layers:
            ids[entry["name"]] = _identifier(entry["name"], taken)
        for entry in self.layers:
            entry["from"] = [ids[f] for f in entry["from"]]
            entry["name"] = ids[entry["name"]]
        model_name = _identifier(Path(self.display).stem or self.graph.name or "onnx_model", set())
        producer = " ".join(p for p in (self.proto.producer_name, self.proto.producer_version) if p)
        spec = {
            "name": model_name,
            "title": self.graph.name or Path(self.display).name,
            "source": f"ONNX file {Path(self.display).name}"
            + (f", exported by {producer}" if producer else "")
            + f", opset {self.opset}",
            "description": "Generated from the ONNX graph: concrete layers at its fixed input size.",
            "input": {"channels": c, "size": h},
            "layers": [{k: v for k, v in entry.items() if v is not None} for entry in self.layers],
        }
        text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=120)
        return text, {ids[original]: original for original in ids if original != INPUT_NAME}

    def named_nodes(self) -> list[_OnnxNode]:
        from onnx import helper

        result = []
        taken: set[str] = set()
        counters: dict[str, int] = {}
        for node in self.graph.node:
            name = node.name
            if not name or name in taken or name == INPUT_NAME:
                base = name or node.op_type
                counters[base] = counters.get(base, 0) + 1
                name = f"{base}_{counters[base]}"
                while name in taken:
                    counters[base] += 1
                    name = f"{base}_{counters[base]}"
            taken.add(name)
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            result.append(_OnnxNode(node, name, node.op_type, list(node.input), list(node.output), attrs))
        return result

    def read_constants(self, nodes: list[_OnnxNode]) -> dict[str, np.ndarray]:
        """The values of small initializers and of Constant nodes (large weights: only their shapes)."""
        from onnx import numpy_helper

        self.constant_shapes = {init.name: tuple(int(d) for d in init.dims) for init in self.graph.initializer}
        constants = {
            init.name: numpy_helper.to_array(init)
            for init in self.graph.initializer
            if math.prod(init.dims) <= SMALL_CONSTANT
        }
        for node in nodes:
            if node.op_type != "Constant":
                continue
            attrs = node.attrs
            if "value" in attrs:
                value = numpy_helper.to_array(attrs["value"])
            elif "value_float" in attrs or "value_int" in attrs:
                value = np.array(attrs.get("value_float", attrs.get("value_int")))
            elif "value_floats" in attrs or "value_ints" in attrs:
                value = np.array(attrs.get("value_floats", attrs.get("value_ints")))
            else:
                raise self.fail("unsupported Constant (sparse or string value)", node.name)
            constants[node.outputs[0]] = value
            self.constant_shapes[node.outputs[0]] = tuple(value.shape)
        return constants

    def image_input(self) -> tuple[str, tuple[int, int, int]]:
        inits = {i.name for i in self.graph.initializer}
        inputs = [i for i in self.graph.input if i.name not in inits]
        if len(inputs) != 1:
            raise self.fail(f"expected one image input, found {len(inputs)}: {', '.join(i.name for i in inputs)}")
        value = inputs[0]
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4:
            raise self.fail(f"input '{value.name}' has rank {len(dims)}; costmodel reads [N, C, H, W] images")
        sizes = []
        for axis, dim in zip(("channels", "height", "width"), dims[1:], strict=True):
            if not dim.HasField("dim_value"):
                raise self.fail(f"input '{value.name}' has a symbolic {axis}; costmodel needs a fixed input size")
            sizes.append(int(dim.dim_value))
        c, h, w = sizes
        if h != w:
            raise self.fail(f"input '{value.name}' is {h}×{w}; costmodel's specs have square inputs")
        return value.name, (c, h, w)

    def infer_shapes(self, input_name: str) -> dict[str, tuple[int, ...] | None]:
        """Every tensor's shape with batch 1, from ONNX shape inference (None where it has none)."""
        # Inference runs on a copy without the large weights (declared as inputs of their shapes), so
        # that a 200 MB AlexNet is not copied and serialised twice.
        large = [init for init in self.graph.initializer if init.name not in self.constants]
        listed = {value.name for value in self.graph.input}
        proto = self.onnx.ModelProto(
            ir_version=self.proto.ir_version, opset_import=self.proto.opset_import, functions=self.proto.functions
        )
        graph = proto.graph
        graph.name = self.graph.name
        graph.node.extend(self.graph.node)
        graph.input.extend(self.graph.input)
        graph.output.extend(self.graph.output)
        graph.initializer.extend(init for init in self.graph.initializer if init.name in self.constants)
        graph.input.extend(
            self.onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims))
            for init in large
            if init.name not in listed
        )
        for value in proto.graph.input:
            if value.name == input_name:
                value.type.tensor_type.shape.dim[0].Clear()
                value.type.tensor_type.shape.dim[0].dim_value = 1
        for value in proto.graph.output:  # declared output shapes may name the batch; let inference say
            value.type.tensor_type.ClearField("shape")
        try:
            inferred = self.onnx.shape_inference.infer_shapes(proto, data_prop=True)
        except Exception as err:  # inference errors come as several onnx-internal types
            raise self.fail(f"ONNX shape inference failed: {err}") from None
        shapes: dict[str, tuple[int, ...] | None] = {}
        for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
            tensor = value.type.tensor_type
            if not tensor.HasField("shape"):
                shapes[value.name] = None
                continue
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
            shapes[value.name] = None if None in dims else tuple(int(d) for d in dims)
        shapes.update(self.constant_shapes)
        return shapes

    def is_static(self, tensor: str) -> bool:
        return tensor in self.static

    def shape(self, tensor: str, node: _OnnxNode) -> tuple[int, ...]:
        shape = self.shapes.get(tensor)
        if shape is None:
            raise self.fail(f"ONNX shape inference gives no static shape for '{tensor}'", node.name)
        return shape

    def constant(self, tensor: str, node: _OnnxNode, what: str) -> np.ndarray:
        if tensor not in self.constants:
            raise self.fail(f"{node.op_type}'s {what} must be a constant (an initializer or a Constant)", node.name)
        return self.constants[tensor]

    def src(self, tensor: str, node: _OnnxNode) -> str:
        if tensor not in self.source:
            if self.is_static(tensor):
                raise self.fail(f"{node.op_type} of a constant is not a layer costmodel can count", node.name)
            raise self.fail(f"input '{tensor}' comes from no layer", node.name)
        return self.source[tensor]

    def only_consumer(self, tensor: str) -> _OnnxNode | None:
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and tensor not in self.graph_outputs:
            return users[0]
        return None

    # -- one node ---------------------------------------------------------------------------------

    def add(self, node: _OnnxNode, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> None:
        entry: dict[str, Any] = {"op": op, "name": node.name, "from": [self.src(i, node) for i in inputs]}
        entry.update(attrs)
        self.layers.append(entry)
        self.source[output or node.outputs[0]] = node.name
        self.layer_outputs[node.name] = output or node.outputs[0]

    def layer(self, node: _OnnxNode) -> None:
        handler = getattr(self, f"op_{node.op_type}", None)
        if handler is None:  # checked before: only SUPPORTED and shape operators get here
            raise self.fail(f"unsupported ONNX operator '{node.op_type}'", node.name)
        handler(node)

    def activation_inputs(self, node: _OnnxNode) -> list[str]:
        return [i for i in node.inputs if i and not self.is_static(i)]

    def spatial(self, node: _OnnxNode, tensor: str) -> tuple[int, int, int]:
        shape = self.shape(tensor, node)
        if len(shape) != 4:
            raise self.fail(f"{node.op_type} needs an [N, C, H, W] input, got shape {list(shape)}", node.name)
        return shape[1], shape[2], shape[3]

    def window(self, node: _OnnxNode, kernel: list[int], ceil_mode: bool = False) -> dict[str, Any]:
        """k, stride and pad of a Conv or pooling node, as costmodel attributes."""
        attrs = node.attrs
        if len(kernel) != 2:
            raise self.fail(f"only 2-D {node.op_type} is supported, got a {len(kernel)}-D kernel", node.name)
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise self.fail(
                f"dilated {node.op_type} (dilations {list(attrs['dilations'])}) is not supported", node.name
            )
        strides = list(attrs.get("strides", [1, 1]))
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
        _, h, w = self.spatial(node, node.inputs[0])
        out = self.shapes.get(node.outputs[0])
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            pad: Any = "same"
        elif auto_pad == "VALID":
            pad = 0
        else:
            pad = self.pads(node, list(attrs.get("pads", [0, 0, 0, 0])), (h, w), kernel, strides, out, ceil_mode)
        return {"k": _compact(kernel), "stride": _compact(strides), "pad": pad}

    def pads(
        self,
        node: _OnnxNode,
        pads: list[int],
        size: tuple[int, int],
        kernel: list[int],
        strides: list[int],
        out: tuple[int, ...] | None,
        ceil_mode: bool,
    ) -> Any:
        top, left, bottom, right = pads
        if top == bottom and left == right:
            return _compact([top, left])
        # Asymmetric: only the output size matters for the counts; find symmetric padding or 'same'
        # (TensorFlow's, the odd pixel after) that gives the same output.
        if out is not None and len(out) == 4:
            if all(o == math.ceil(s / st) for o, s, st in zip(out[2:], size, strides, strict=True)):
                return "same"
            if (top + bottom) % 2 == 0 and (left + right) % 2 == 0:
                return _compact([(top + bottom) // 2, (left + right) // 2])
        raise self.fail(
            f"asymmetric padding {pads} of {node.op_type} is not supported (no symmetric or 'same' padding "
            "gives the same output)",
            node.name,
        )

    def op_Conv(self, node: _OnnxNode) -> None:
        weight = self.shape(node.inputs[1], node)
        if len(weight) != 4:
            raise self.fail(f"only 2-D convolutions are supported, got a weight of shape {list(weight)}", node.name)
        kernel = list(node.attrs.get("kernel_shape", weight[2:]))
        bias = len(node.inputs) > 2 and bool(node.inputs[2])
        attrs = self.window(node, kernel)
        self.arrays[node.name] = {"weight": (node.inputs[1], "", 1.0)}
        if bias:
            self.arrays[node.name]["bias"] = (node.inputs[2], "", 1.0)
        self.add(
            node,
            "conv2d",
            [node.inputs[0]],
            out=int(weight[0]),
            **attrs,
            groups=int(node.attrs.get("group", 1)),
            bias=bias,
        )

    def op_Gemm(self, node: _OnnxNode) -> None:
        if node.attrs.get("transA", 0):
            raise self.fail("Gemm with transA = 1 is not supported", node.name)
        weight = self.shape(node.inputs[1], node)
        if not self.is_static(node.inputs[1]):
            raise self.fail("Gemm of two activations is not a fully-connected layer", node.name)
        out = weight[0] if node.attrs.get("transB", 0) else weight[1]
        bias = len(node.inputs) > 2 and bool(node.inputs[2]) and node.attrs.get("beta", 1.0) != 0
        if bias:
            size = int(np.prod(self.shape(node.inputs[2], node)))
            if size != out:
                raise self.fail(f"Gemm bias of {size} values for {out} outputs is not supported", node.name)
        alpha = float(node.attrs.get("alpha", 1.0))
        self.arrays[node.name] = {"weight": (node.inputs[1], "" if node.attrs.get("transB", 0) else "T", alpha)}
        if bias:
            self.arrays[node.name]["bias"] = (node.inputs[2], "flat", float(node.attrs.get("beta", 1.0)))
        self.fully_connected(node, int(out), bias)

    def op_MatMul(self, node: _OnnxNode) -> None:
        weight = self.shape(node.inputs[1], node)
        if not self.is_static(node.inputs[1]) or len(weight) != 2:
            raise self.fail("only MatMul by a constant 2-D matrix (a fully-connected layer) is supported", node.name)
        if len(self.shape(node.inputs[0], node)) != 2:
            raise self.fail("MatMul of a tensor of rank other than 2 is not supported", node.name)
        out = int(weight[1])
        output = node.outputs[0]
        add = self.only_consumer(output)
        bias = False
        self.arrays[node.name] = {"weight": (node.inputs[1], "T", 1.0)}
        if add is not None and add.op_type == "Add":
            other = add.inputs[1] if add.inputs[0] == output else add.inputs[0]
            if other in self.static and self.constant_shapes.get(other) == (out,):
                bias = True
                self.absorbed.add(add.name)
                output = add.outputs[0]
                self.arrays[node.name]["bias"] = (other, "", 1.0)
        self.fully_connected(node, out, bias, output)

    def fully_connected(self, node: _OnnxNode, out: int, bias: bool, output: str | None = None) -> None:
        self.add(node, "linear", [node.inputs[0]], output, out=out, bias=bias)

    def is_flatten(self, node: _OnnxNode) -> bool:
        if node.op_type not in ("Flatten", "Reshape"):
            return False
        source = self.shapes.get(node.inputs[0])
        out = self.shapes.get(node.outputs[0])
        if source is None or out is None or len(out) != 2 or out[0] != source[0]:
            return False
        if node.op_type == "Flatten" and node.attrs.get("axis", 1) not in (1, 1 - len(source)):
            return False
        return out[1] == int(np.prod(source[1:]))

    def op_BatchNormalization(self, node: _OnnxNode) -> None:
        self.arrays[node.name] = {name: (node.inputs[i + 1], "", 1.0) for i, name in enumerate(NORM_ARRAYS)}
        self.add(node, "batchnorm", [node.inputs[0]])

    def op_Relu(self, node: _OnnxNode) -> None:
        self.add(node, "relu", [node.inputs[0]])

    def op_Clip(self, node: _OnnxNode) -> None:
        if self.opset < 11:
            low, high = node.attrs.get("min"), node.attrs.get("max")
        else:
            inputs = [*node.inputs, "", ""]
            low, high = (
                float(self.constant(t, node, what).reshape(-1)[0]) if t else None
                for t, what in ((inputs[1], "min"), (inputs[2], "max"))
            )
        if low == 0 and high == 6:
            self.add(node, "relu6", [node.inputs[0]])
        elif low == 0 and (high is None or math.isinf(high)):
            self.add(node, "relu", [node.inputs[0]])
        else:
            raise self.fail(
                f"Clip to [{low}, {high}] is not supported (only ReLU, [0, inf), and ReLU6, [0, 6])", node.name
            )

    def op_HardSwish(self, node: _OnnxNode) -> None:
        self.add(node, "hard_swish", [node.inputs[0]])

    def op_HardSigmoid(self, node: _OnnxNode) -> None:
        self.add(node, "hard_sigmoid", [node.inputs[0]])

    def op_Sigmoid(self, node: _OnnxNode) -> None:
        self.add(node, "sigmoid", [node.inputs[0]])

    def op_Softmax(self, node: _OnnxNode) -> None:
        self.add(node, "softmax", [node.inputs[0]])

    def binary(self, node: _OnnxNode, op: str) -> None:
        inputs = self.activation_inputs(node)
        if len(inputs) != len(node.inputs):
            raise self.fail(f"{node.op_type} with a constant operand is not supported", node.name)
        if op == "mul":  # costmodel's mul is (data, gate): the larger tensor first
            inputs.sort(key=lambda t: -int(np.prod(self.shapes.get(t) or (0,))))
        self.add(node, op, inputs)

    def op_Mul(self, node: _OnnxNode) -> None:
        self.binary(node, "mul")

    def op_Add(self, node: _OnnxNode) -> None:
        self.binary(node, "add")

    def op_Sum(self, node: _OnnxNode) -> None:
        if len(node.inputs) == 1:
            self.add(node, "dropout", node.inputs, p=0)
        else:
            self.binary(node, "add")

    def op_Concat(self, node: _OnnxNode) -> None:
        rank = len(self.shape(node.outputs[0], node))
        axis = node.attrs.get("axis")
        if axis is None or axis % rank != 1:
            raise self.fail(f"Concat along axis {axis} is not supported (only channels, axis 1)", node.name)
        if len(self.activation_inputs(node)) != len(node.inputs):
            raise self.fail("Concat with a constant operand is not supported", node.name)
        self.add(node, "concat", list(node.inputs))

    def pool(self, node: _OnnxNode, op: str) -> None:
        ceil_mode = bool(node.attrs.get("ceil_mode", 0))
        kernel = list(node.attrs.get("kernel_shape", []))
        attrs = self.window(node, kernel, ceil_mode)
        if len(node.outputs) > 1 and node.outputs[1]:
            raise self.fail("MaxPool's indices output is not supported", node.name)
        self.add(node, op, [node.inputs[0]], **attrs, ceil_mode=ceil_mode or None)

    def op_MaxPool(self, node: _OnnxNode) -> None:
        self.pool(node, "max_pool")

    def op_AveragePool(self, node: _OnnxNode) -> None:
        self.pool(node, "avg_pool")

    def op_GlobalAveragePool(self, node: _OnnxNode) -> None:
        self.spatial(node, node.inputs[0])
        self.add(node, "global_avg_pool", [node.inputs[0]])

    def op_ReduceMean(self, node: _OnnxNode) -> None:
        self.spatial(node, node.inputs[0])
        if self.opset >= 18 and len(node.inputs) > 1 and node.inputs[1]:
            axes = [int(a) for a in self.constant(node.inputs[1], node, "axes").reshape(-1)]
        else:
            axes = list(node.attrs.get("axes", []))
        if sorted(a % 4 for a in axes) != [2, 3]:
            raise self.fail(f"ReduceMean over axes {axes} is not supported (only the spatial axes 2, 3)", node.name)
        self.add(node, "global_avg_pool", [node.inputs[0]])

    def op_Flatten(self, node: _OnnxNode) -> None:
        if not self.is_flatten(node):
            raise self.fail(f"Flatten with axis {node.attrs.get('axis', 1)} is not supported (only axis 1)", node.name)
        self.add(node, "flatten", [node.inputs[0]])

    def op_Reshape(self, node: _OnnxNode) -> None:
        if not self.is_flatten(node):
            target = self.shapes.get(node.outputs[0])
            raise self.fail(
                f"Reshape to {list(target) if target else 'an unknown shape'} is not supported "
                "(only flattening to [N, C·H·W])",
                node.name,
            )
        self.add(node, "flatten", [node.inputs[0]])

    def op_Dropout(self, node: _OnnxNode) -> None:
        if len(node.inputs) > 1 and node.inputs[1]:
            ratio = float(self.constant(node.inputs[1], node, "ratio").reshape(-1)[0])
        else:
            ratio = float(node.attrs.get("ratio", 0.5))
        self.add(node, "dropout", [node.inputs[0]], p=ratio)

    def op_Identity(self, node: _OnnxNode) -> None:
        self.add(node, "dropout", [node.inputs[0]], p=0)


def _compact(values: Iterable[int]) -> Any:
    """One number when both sides agree, else [h, w] (as a spec writes them)."""
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values
