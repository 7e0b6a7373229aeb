"""ONNX import: any ONNX CNN as a costmodel.

:func:`import_model` reads an ONNX CNN, infers its shapes, and writes what it finds as a costmodel spec
of concrete layers (every layer with an explicit ``name`` and ``from``), which then goes through the
same parser, graph expansion and :class:`~costmodel.model.Model` as a YAML spec: every report, table
and breakdown works on it. Node names are kept as layer names, whatever characters they hold.

Each ONNX operator type is read by the costmodel operator that declares it (``onnx_types`` and
``from_onnx``, collected in :data:`IMPORTERS`); this module provides what they ask for
(:class:`costmodel.ops.base.OnnxReader`). A Flatten or flattening Reshape that only feeds a Gemm/MatMul
is part of that fully-connected layer (costmodel's ``linear`` flattens its input). Computations on
constants and shapes (``Shape``, ``Gather``, ``Concat`` of constants...) are not layers. Anything else
is an error naming the operator and the node. :func:`import_weights` reads the file's weights keyed as
the executor takes them, so that ``executor.forward`` on the imported network computes what the file
computes.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import yaml

from costmodel import intmath, limits, readfile
from costmodel.errors import SpecError
from costmodel.expansion import expand
from costmodel.graph import INPUT, Structure
from costmodel.model import Model
from costmodel.onnx_common import INPUT_NAME, OPSET, require_onnx
from costmodel.ops import REGISTRY, Operator
from costmodel.ops.base import show_shape
from costmodel.spec import parse_spec


def _importers() -> dict[str, type[Operator]]:
    table: dict[str, type[Operator]] = {}
    for cls in REGISTRY.values():
        for onnx_type in cls.onnx_types or ():
            if onnx_type in table:
                raise RuntimeError(f"{cls.op_name} and {table[onnx_type].op_name} both import ONNX {onnx_type}")
            table[onnx_type] = cls
    return table


# ONNX operator type -> the costmodel operator that reads it
IMPORTERS: dict[str, type[Operator]] = _importers()
SHAPE_ROUNDS = 64  # rounds of shape inference, each knowing the Shape values the one before inferred (a legacy
# Swin-T computes its window shapes from Shape nodes 17 deep)
# what may run on a channels-last view (between ConvNeXt's Transposes): per-position and elementwise ops
CHANNELS_LAST_OPS = frozenset(
    {
        "layernorm",
        "conv2d",
        "gelu",
        "add",
        "mul",
        "scale",
        "scale_by",
        "relu",
        "relu6",
        "silu",
        "sigmoid",
        "hard_swish",
        "dropout",
        "pad",
    }
)
# Operators that only ever compute on constants and shapes here; as such they are not layers.
NOT_LAYERS = frozenset({"Constant", "Shape", "Size", "Cast", "ConstantOfShape"})

# Operators that only reshape a constant: a parameter reshaped is still that parameter.
RESHAPES = frozenset({"Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity"})

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
    model.notes = importer.notes()
    for node in model.network(model.default_point()).nodes:
        expected = importer.shapes.get(importer.layer_outputs[node.name])
        if expected is None:
            continue
        got = tuple(int(v) for v in node.output_shape)
        batch = importer.batch_axis(importer.layer_outputs[node.name])
        want = tuple(size for axis, size in enumerate(expected) if axis != batch)
        if importer.layer_outputs[node.name] in importer.channels_last and len(want) == 3:
            want = (want[2], want[0], want[1])  # [H, W, C] of the view: the layer's (C, H, W)
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
    (up to the batch-norm epsilon, which costmodel fixes at 1e-5, and a pool's asymmetric padding, read as
    the symmetric or TensorFlow 'same' padding that gives the same output; a Conv's is a pad layer).
    """
    from onnx import numpy_helper

    shown = display or str(path)
    importer = _read(path, shown)
    _, names = importer.spec()
    tensors = importer.initializers
    used = {tensor for arrays in importer.arrays.values() for tensor, _, _ in arrays.values()}
    values = sum(math.prod(tensors[t].dims) for t in used if t in tensors)
    limits.check_memory(8 * values, f"reading the weights of {shown}")  # each read, then made float32
    weights: dict[str, dict[str, np.ndarray]] = {}
    for layer, arrays in importer.arrays.items():
        if layer in importer.absorbed or layer not in names.values():
            continue
        for array, (tensor, how, scale) in arrays.items():
            if tensor in tensors:
                value = numpy_helper.to_array(tensors[tensor])
            else:
                found = importer.value(tensor)  # a Constant, or computed from constants
                if found is None:
                    raise SpecError(f"its {array} depends on the image, not only on constants", file=shown, layer=layer)
                value = found
            if how.startswith("as "):  # one image's shape of a constant the file holds with a batch axis
                value = value.reshape([int(size) for size in how[3:].split(",")])
            if how == "T11":  # a MatMul over channels last, as a 1x1 convolution's (out, in, 1, 1)
                value = value.T.reshape(*value.T.shape, 1, 1)
            value = value.T if how == "T" else value.reshape(-1) if how == "flat" else value
            if scale != 1.0:
                value = value * scale
            weights.setdefault(layer, {})[array] = np.ascontiguousarray(value, dtype=np.float32)
    return weights


def _read(path: str | Path, display: str) -> _Importer:
    """The file, read whole (a regular file within the ``onnx_bytes`` limit), its protobuf encoding
    walked before it is parsed (:func:`_check_encoding`), and its tensors checked once it is."""
    onnx = require_onnx("reading ONNX files")
    data = readfile.read_bytes(path, "onnx_bytes", display)
    if not data:
        raise SpecError("cannot read ONNX model: the file is empty", file=display)
    _check_encoding(data, onnx.ModelProto.DESCRIPTOR, display)
    try:  # from the bytes: external data is read below, only from beside the file
        proto = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf's errors are many and undocumented
        raise SpecError(f"cannot read ONNX model: {err}", file=display) from None
    _read_external_data(proto, Path(path), len(data), display)
    _check_tensors(proto, display)
    return _Importer(proto, display)


def _read_external_data(proto: Any, path: Path, read: int, display: str) -> None:
    """The initializers whose data lies in another file (PyTorch's dynamo exporter writes
    ``model.onnx.data`` beside the model by default) get it back, read from that file only where it is
    a regular file in the model's own directory (no absolute path, no ``..``, no link leading out), its
    offset and length inside it, and everything read within the ``onnx_bytes`` limit. Anything else
    is refused naming the initializer."""
    external = [t for t in proto.graph.initializer if t.data_location == _EXTERNAL or len(t.external_data)]
    if not external:
        return
    directory = path.resolve().parent
    files: dict[Path, bytes] = {}
    for tensor in external:
        what = f"initializer '{tensor.name}'"
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        if not isinstance(location, str) or not location or "\0" in location:
            raise SpecError(f"{what} keeps its data in another file but names none", file=display)
        relative = Path(location)
        if relative.is_absolute() or ".." in relative.parts:
            raise SpecError(
                f"{what} keeps its data in '{location}': costmodel reads external data only from a file "
                "in the model's own directory",
                file=display,
            )
        target = (directory / relative).resolve()
        if directory not in target.parents:
            raise SpecError(
                f"{what} keeps its data in '{location}', which leads out of the model's directory", file=display
            )
        if target not in files:
            remaining = limits.current().onnx_bytes - read - sum(len(b) for b in files.values())
            data = readfile.read_bytes(target, "onnx_bytes", f"{display}: {what} (external data {location})")
            if len(data) > remaining:
                raise limits.exceeded("onnx_bytes", "the model and its external data are too large").located(
                    file=display
                )
            files[target] = data
        data = files[target]
        try:
            offset = int(entries.get("offset", "0"))
            length = int(entries["length"]) if "length" in entries else len(data) - offset
        except ValueError:
            raise SpecError(
                f"{what} has an external data offset or length that is not a number", file=display
            ) from None
        if offset < 0 or length < 0 or offset + length > len(data):
            raise SpecError(
                f"{what} takes bytes {offset:,} to {offset + length:,} of '{location}', which holds {len(data):,}",
                file=display,
            )
        tensor.raw_data = data[offset : offset + length]
        tensor.data_location = 0  # DEFAULT: the data is the tensor's own now
        del tensor.external_data[:]


# -- what is read before the importer sees it ------------------------------------------------------------

# Parsing a protobuf message costs memory per field, whatever its size in the file: 2 bytes of a field
# (a tag, an empty length) become an object of some 50 bytes, so a small file of many tiny fields would
# parse into gigabytes. The encoding is walked first, field by field, and the file refused when it holds
# more nodes than the ``layers`` limit, more fields than FIELDS_PER_LAYER per layer of that limit (which bounds the
# walk's time too), or when it would parse into more than the ``memory`` limit.
FIELDS_PER_LAYER = 16  # 320,000 fields by default (a CNN's file holds 15 to 45 per node), walked in 0.3 s
FIELD_BYTES = 64  # memory of one parsed field (a message, a string, an unpacked number), estimated
MAX_NESTING = 100  # protobuf's own recursion limit
_VARINTS = frozenset({3, 4, 5, 8, 13, 14, 17, 18})  # FieldDescriptor types: int64, uint64, int32, bool, ...
_FIXED = {1: 8, 2: 4, 6: 8, 7: 4, 15: 4, 16: 8}  # double, float, fixed64, fixed32, sfixed32, sfixed64
_HIGH_BYTES = bytes(range(0x80, 0x100))
_CHUNK = 1 << 24


class _Damaged(Exception):
    """The protobuf encoding is broken at this byte."""


_MESSAGE, _PACKED_VARINTS, _PACKED_FIXED = 1, 2, 3


class _Layout:
    """How one message type is walked: field number -> (_MESSAGE, its _Layout) / (_PACKED_VARINTS,
    None) / (_PACKED_FIXED, bytes per value); other fields are skipped."""

    def __init__(self, is_node: bool) -> None:
        self.is_node = is_node
        self.fields: dict[int, tuple[int, Any]] = {}


_LAYOUTS: dict[str, _Layout] = {}


def _layout(descriptor: Any) -> _Layout:
    """The walking layout of a message type and of every type inside it (built once, from onnx's own
    descriptors)."""
    name = descriptor.full_name
    if name in _LAYOUTS:
        return _LAYOUTS[name]
    layout = _LAYOUTS[name] = _Layout(name == "onnx.NodeProto")
    for field in descriptor.fields:
        if field.message_type is not None:
            layout.fields[field.number] = (_MESSAGE, _layout(field.message_type))
        elif field.type in _VARINTS:
            layout.fields[field.number] = (_PACKED_VARINTS, None)
        elif field.type in _FIXED:
            layout.fields[field.number] = (_PACKED_FIXED, _FIXED[field.type])
    return layout


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise _Damaged(pos)


def _check_encoding(data: bytes, model: Any, display: str) -> None:
    """Walk the protobuf encoding of a ModelProto without parsing it: count nodes and fields, estimate
    the parsed size; a limit reached is an error before the parser allocates anything."""
    layers = limits.current().layers
    most_fields = FIELDS_PER_LAYER * layers
    fields = nodes = numbers = 0
    stack: list[tuple[int, int, _Layout]] = [(0, len(data), _layout(model))]  # (position, end, layout)
    try:
        while stack:
            pos, end, layout = stack.pop()
            if len(stack) > MAX_NESTING:
                raise SpecError("cannot read ONNX model: its messages nest too deeply", file=display)
            known = layout.fields
            while pos < end:
                fields += 1
                if fields > most_fields:
                    what = f"the fields of the ONNX file (more than {most_fields:,}, {FIELDS_PER_LAYER} per layer)"
                    raise limits.exceeded("layers", what).located(file=display)
                key = data[pos]
                if key < 0x80:
                    pos += 1
                else:
                    key, pos = _varint(data, pos, end)
                wire = key & 7
                if wire == 2:
                    length = data[pos] if pos < end else 0x80
                    if length < 0x80:
                        pos += 1
                    else:
                        length, pos = _varint(data, pos, end)
                    start = pos
                    pos += length
                    if pos > end:
                        raise _Damaged(start)
                    kind, detail = known.get(key >> 3, (0, None))
                    if kind == _MESSAGE:
                        if detail.is_node:  # counted as it opens: the walk comes back to it after each attribute
                            nodes += 1
                            if nodes > layers:
                                what = "the nodes of the ONNX graph"
                                raise limits.exceeded("layers", what, f"more than {layers:,}").located(file=display)
                        stack.append((pos, end, layout))
                        stack.append((start, pos, detail))
                        break
                    if kind == _PACKED_VARINTS:  # one value per byte below 0x80
                        numbers += sum(
                            len(data[i : min(i + _CHUNK, pos)].translate(None, _HIGH_BYTES))
                            for i in range(start, pos, _CHUNK)
                        )
                    elif kind == _PACKED_FIXED:
                        numbers += length // detail
                elif wire == 0:
                    _, pos = _varint(data, pos, end)
                elif wire == 1:
                    pos += 8
                elif wire == 5:
                    pos += 4
                else:
                    raise _Damaged(pos)
            if pos > end:
                raise _Damaged(end)
    except _Damaged as err:
        raise SpecError(
            f"cannot read ONNX model: not a protobuf ModelProto (damaged at byte {err.args[0]})", file=display
        ) from None
    needed = len(data) + FIELD_BYTES * fields + 8 * numbers
    try:
        limits.check_memory(needed, "parsing the ONNX file")
    except limits.LimitError as err:
        raise err.located(file=display) from None


# ONNX data type -> its name, the field that holds its values when not in raw_data, bytes per raw value:
# the real floating-point and integer types, and booleans
_TENSOR_TYPES = {
    1: ("FLOAT", "float_data", 4),
    2: ("UINT8", "int32_data", 1),
    3: ("INT8", "int32_data", 1),
    4: ("UINT16", "int32_data", 2),
    5: ("INT16", "int32_data", 2),
    6: ("INT32", "int32_data", 4),
    7: ("INT64", "int64_data", 8),
    10: ("FLOAT16", "int32_data", 2),
    11: ("DOUBLE", "double_data", 8),
    12: ("UINT32", "uint64_data", 4),
    13: ("UINT64", "uint64_data", 8),
    16: ("BFLOAT16", "int32_data", 2),
    9: ("BOOL", "int32_data", 1),  # masks (dynamo's adaptive pooling)
}
_EXTERNAL = 1  # TensorProto.EXTERNAL
_BOOL = 9  # TensorProto.BOOL


def _check_tensors(proto: Any, display: str) -> None:
    """Every initializer and Constant value: a self-contained tensor of real numbers whose data is
    exactly what its dims declare (numpy_helper.to_array trusts all of this)."""
    graph = proto.graph
    names = [value.name for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer)]
    if not all(isinstance(name, str) for name in names):  # protobuf hands invalid UTF-8 back as bytes
        raise SpecError("a tensor's name in the graph is not UTF-8 text", file=display)
    if len(graph.sparse_initializer):
        name = graph.sparse_initializer[0].values.name
        raise SpecError(f"initializer '{name}' is sparse; costmodel reads dense initializers only", file=display)
    for tensor in graph.initializer:
        _check_tensor(tensor, f"initializer '{tensor.name}'", display)
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            for attribute in node.attribute:
                if attribute.name == "value" and attribute.HasField("t"):
                    _check_tensor(attribute.t, f"the value of Constant '{node.name or node.output[0]}'", display)


def _check_tensor(tensor: Any, what: str, display: str) -> None:
    def fail(message: str) -> SpecError:
        return SpecError(f"{what} {message}", file=display)

    if tensor.data_location == _EXTERNAL or len(tensor.external_data):
        raise fail(
            "keeps its data in another file (external data); costmodel reads self-contained ONNX files "
            "(onnx.save_model(..., save_as_external_data=False))"
        )
    if tensor.HasField("segment"):
        raise fail("is a segment of a tensor; costmodel reads whole tensors only")
    if tensor.data_type not in _TENSOR_TYPES:
        from onnx import TensorProto

        names = TensorProto.DataType.values()
        shown = TensorProto.DataType.Name(tensor.data_type) if tensor.data_type in names else str(tensor.data_type)
        raise fail(f"has data type {shown}; costmodel reads real floating-point, integer and boolean tensors only")
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        raise fail(f"has a negative dimension in {dims}")
    biggest = max(dims, default=0)
    if biggest > limits.current().magnitude:
        raise limits.exceeded("magnitude", f"{what} has a dimension", f"{biggest:,}").located(file=display)
    type_name, field, size = _TENSOR_TYPES[tensor.data_type]
    count = math.prod(dims)
    declared = f"declares {count:,} {type_name} values ({show_shape(tuple(dims)) or 'a scalar'})"
    held = len(getattr(tensor, field))
    if tensor.HasField("raw_data"):
        if held:
            raise fail(f"holds its values twice (raw_data and {field})")
        if len(tensor.raw_data) != count * size:
            raise fail(f"{declared} but holds {len(tensor.raw_data):,} bytes of data ({count * size:,} expected)")
    elif held != count:
        raise fail(f"{declared} but holds {held:,}" if held else f"{declared} but holds none")


def model_from_spec(spec_text: str, names: dict[str, str], display: str) -> Model:
    """Parse, expand and evaluate a generated spec, with its layers renamed to the ONNX node names."""
    rename = {INPUT: INPUT, **names}
    try:
        spec = parse_spec(spec_text, display)
        structure = expand(spec)
    except SpecError as err:  # the generated YAML's lines and names mean nothing to the user: the node's do
        layer = rename.get(err.layer, err.layer) if err.layer else None
        raise SpecError(err.message, file=display, layer=layer) from None
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


def _text(value: Any) -> str:
    """A descriptive string field of the file (its producer, its graph's name): protobuf hands text
    that is not valid UTF-8 back as bytes, which is then left out."""
    return value if isinstance(value, str) else ""


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
        self._attribute_types: dict[tuple[str, str], dict[str, int]] = {}

    def fail(self, message: str, layer: str | None = None) -> SpecError:
        return SpecError(message, file=self.display, layer=layer)

    # -- reading ----------------------------------------------------------------------------------

    def spec(self) -> tuple[str, dict[str, str]]:
        nodes = self.named_nodes()
        for node in nodes:
            if node.proto.domain not in ("", "ai.onnx"):
                raise self.fail(f"unsupported ONNX operator '{node.proto.domain}.{node.op_type}'", node.name)
        self.constants = self.read_constants(nodes)
        self.prefolded = self.prefold(nodes)
        input_name, (c, h, w) = self.image_input()
        self.shapes = self.infer_shapes(input_name)
        for _ in range(SHAPE_ROUNDS):  # sizes computed from an activation's Shape (the legacy chunk's Slice)
            measured = self.measured_shapes(nodes)
            if not measured:
                break
            self.prefolded |= measured | self.prefold(nodes)
            self.shapes = self.infer_shapes(input_name)
        self.static = set(self.constant_shapes)
        self.folded: dict[str, _OnnxNode] = {}  # tensor -> the node of constants that computes it
        self.nodes = []
        unsupported = []
        for node in nodes:
            constant_inputs = bool(node.inputs) and all(self.is_static(i) for i in node.inputs if i)
            if node.op_type in ("Constant", "Shape", "Size") or constant_inputs:
                self.static.update(node.outputs)  # shapes are fixed here: a Shape is a constant too
                self.folded.update((output, node) for output in node.outputs if output)
            else:
                if node.op_type not in IMPORTERS:
                    unsupported.append(node)  # unless an operator claims it as part of its pattern
                self.nodes.append(node)
        self.node_names = {node.name for node in nodes}
        self.position = {node.name: i for i, node in enumerate(self.nodes)}
        self._claims: dict[str, Any] = {}  # node name -> what its operator's pattern reader found
        self.consumers: dict[str, list[_OnnxNode]] = {}
        self.producers: dict[str, _OnnxNode] = {}
        for node in self.nodes:
            for i in node.inputs:
                self.consumers.setdefault(i, []).append(node)
            self.producers.update((o, node) for o in node.outputs if o)
        self.graph_outputs = {o.name for o in self.graph.output}

        self.source: dict[str, str] = {input_name: INPUT_NAME}  # tensor -> costmodel layer (original name)
        self.channels_last: set[str] = set()  # [N, H, W, C] views of a layer's [N, C, H, W] output
        self.batch_axes: dict[str, int | None] = {}  # where a tensor's batch axis is, when not at 0
        self.absorbed: set[str] = set()
        for node in self.nodes:  # the nodes a pattern's first reads with it (GELU's around an Erf)
            found = self.claimed(node)
            if found is not None:
                self.absorbed.update(part.name for part in found[1])
        for node in unsupported:
            if node.name not in self.absorbed:
                known = node.op_type in NOT_LAYERS
                raise self.fail(f"unsupported ONNX operator '{node.op_type}'{' on an activation' * known}", node.name)
        self.layer_outputs: dict[str, str] = {}  # layer name -> the ONNX tensor it makes
        # layer name -> costmodel array name -> (ONNX tensor, "" / "T" (transpose) / "flat", scale)
        self.arrays: dict[str, dict[str, tuple[str, str, float]]] = {}
        self.layers: list[dict[str, Any]] = []
        for node in self.nodes:
            if node.op_type in ("Flatten", "Reshape") and self.is_flatten(node):
                user = self.only_consumer(node.outputs[0])
                if user is not None and user.op_type in IMPORTERS and IMPORTERS[user.op_type].flattens_input:
                    self.absorbed.add(node.name)  # part of the linear layer, which flattens its input
        for node in self.nodes:
            if node.name in self.absorbed:
                # a flatten before a linear layer passes its input on; the output of a node that ends a
                # layer (a channel shuffle's last Reshape) is already that layer's
                if node.op_type in ("Flatten", "Reshape") and node.outputs[0] not in self.source:
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
        graph_name = _text(self.graph.name)
        model_name = _identifier(Path(self.display).stem or graph_name or "onnx_model", set())
        producer = " ".join(p for p in (_text(self.proto.producer_name), _text(self.proto.producer_version)) if p)
        spec = {
            "name": model_name,
            "title": graph_name or Path(self.display).name,
            "source": f"ONNX file {Path(self.display).name}"
            + (f", exported by {producer}" if producer else "")
            + f", opset {self.opset}",
            "description": "Generated from the ONNX graph: concrete layers at its fixed input size.",
            "input": {"channels": c, "size": h if h == w else [h, w]},
            "layers": [{k: v for k, v in entry.items() if v is not None} for entry in self.layers],
        }
        text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=120)
        return text, {ids[original]: original for original in ids if original != INPUT_NAME}

    def notes(self) -> list[str]:
        """What a reader of this file's counts should know: its batch norms folded, its fixed batch."""
        notes = []
        batch = self.image_batch
        if batch > 1:
            notes.append(
                f"the file takes a fixed batch of {batch} images; every count here is per image "
                f"(one run of the file does {batch} times the MACs)"
            )
        norms = sum(node.op_type == "BatchNormalization" for node in self.nodes)
        biased = [node for node in self.nodes if node.op_type == "Conv" and len(node.inputs) > 2 and node.inputs[2]]
        if biased and not norms:
            anonymous = sum(node.inputs[1].startswith("onnx::") for node in biased)
            how = (
                f"{anonymous} of them with weights the exporter renamed (onnx::Conv_…), as PyTorch's exporter "
                "does when it folds a batch norm into a convolution"
                if anonymous
                else "either the model has none (AlexNet, SqueezeNet) or the exporter folded them into the "
                "convolutions (PyTorch does in eval mode)"
            )
            convolutions = (
                "1 convolution carries a bias" if len(biased) == 1 else f"{len(biased)} convolutions carry biases"
            )
            notes.append(
                f"there is no batch norm in this file and {convolutions}: {how}. "
                "A folded norm leaves one bias per channel where the model had γ and β, so the counts here "
                "(under any --counting) are the file's, and a framework's count of the model before "
                "export (torchvision's num_params) is larger by one value per channel of each folded norm"
            )
        return notes

    def named_nodes(self) -> list[_OnnxNode]:
        result = []
        taken: set[str] = set()
        counters: dict[str, int] = {}
        for node in self.graph.node:
            texts = [node.name, node.op_type, node.domain, *node.input, *node.output]
            if not all(isinstance(text, str) for text in texts):  # protobuf hands invalid UTF-8 back as bytes
                raise self.fail("a node's name, type or tensor names are not UTF-8 text")
            name = node.name
            if not name or name in taken or name == INPUT_NAME:
                base = name or node.op_type
                counters[base] = counters.get(base, 0) + 1
                name = f"{base}_{counters[base]}"
                while name in taken:
                    counters[base] += 1
                    name = f"{base}_{counters[base]}"
            taken.add(name)
            attrs = {a.name: self.attribute(node, a, name) for a in node.attribute}
            result.append(_OnnxNode(node, name, node.op_type, list(node.input), list(node.output), attrs))
        return result

    def attribute(self, node: Any, attribute: Any, layer: str) -> Any:
        """An attribute's value, once its type is the one the operator's schema declares (a kernel_shape
        that is one INT, not INTS, would reach the operators as an int they cannot iterate)."""
        from onnx import AttributeProto, helper

        if attribute.ref_attr_name:
            raise self.fail(f"attribute '{attribute.name}' of {node.op_type} refers to a function's attribute", layer)
        expected = self.attribute_types(node.op_type, node.domain).get(attribute.name)
        if expected is not None and attribute.type != expected:
            types = AttributeProto.AttributeType
            got = types.Name(attribute.type) if attribute.type in types.values() else str(attribute.type)
            want = types.Name(expected) if expected in types.values() else str(expected)
            raise self.fail(f"attribute '{attribute.name}' of {node.op_type} must be {want}, got {got}", layer)
        try:
            value = helper.get_attribute_value(attribute)
        except ValueError:  # no type, or one onnx does not know
            raise self.fail(
                f"attribute '{attribute.name}' of {node.op_type} has no value onnx can read", layer
            ) from None
        if isinstance(value, bytes):  # a STRING: text, whatever bytes a file holds ('NOTSET', 'linear')
            return value.decode("utf-8", "replace")
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode("utf-8", "replace") for v in value]
        return value

    def schema(self, op_type: str, opset: int | None) -> Any:
        """ONNX's schema of an operator at ``opset`` (None: the newest), or None when it has none."""
        defs = self.onnx.defs
        try:
            return defs.get_schema(op_type, opset, "") if opset is not None else defs.get_schema(op_type, "")
        except defs.SchemaError:
            return None

    def attribute_types(self, op_type: str, domain: str) -> dict[str, int]:
        """Attribute name -> AttributeProto type, from the operator's schema at the file's opset, and for
        attributes that opset does not have (a MaxPool's dilations before opset 10, which the importer
        still reads) from the newest; empty for operators outside ONNX's own domain."""
        key = (op_type, domain)
        if key not in self._attribute_types:
            types: dict[str, int] = {}
            if domain in ("", "ai.onnx"):
                for schema in (self.schema(op_type, None), self.schema(op_type, self.opset)):
                    if schema is not None:
                        types.update({name: int(a.type.value) for name, a in schema.attributes.items()})
            self._attribute_types[key] = types
        return self._attribute_types[key]

    def read_constants(self, nodes: list[_OnnxNode]) -> dict[str, np.ndarray]:
        """The values of small initializers and of Constant nodes (large weights: only their shapes)."""
        from onnx import numpy_helper

        self.initializers = {init.name: init for init in self.graph.initializer}
        self.constant_shapes = {name: tuple(int(d) for d in init.dims) for name, init in self.initializers.items()}
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
        self.image_batch = int(dims[0].dim_value) if dims[0].HasField("dim_value") else 1
        sizes = []
        for axis, dim in zip(("channels", "height", "width"), dims[1:], strict=True):
            if not dim.HasField("dim_value"):
                raise self.fail(f"input '{value.name}' has a symbolic {axis}; costmodel needs a fixed input size")
            sizes.append(int(dim.dim_value))
        c, h, w = sizes
        if min(sizes) < 1:
            raise self.fail(f"input '{value.name}' is {c}×{h}×{w}: an image has at least one channel and pixel")
        return value.name, (c, h, w)

    def infer_shapes(self, input_name: str) -> dict[str, tuple[int, ...] | None]:
        """Every tensor's shape with batch 1, from ONNX shape inference (None where it has none)."""
        from onnx import numpy_helper

        # Inference runs on a copy without the large weights (declared as inputs of their shapes), so
        # that a 200 MB AlexNet is not copied and serialised twice.
        large = [init for init in self.graph.initializer if init.name not in self.constants]
        listed = {value.name for value in self.graph.input}
        proto = self.onnx.ModelProto(
            ir_version=self.proto.ir_version, opset_import=self.proto.opset_import, functions=self.proto.functions
        )
        graph = proto.graph
        graph.name = _text(self.graph.name)
        folded = self.prefolded
        graph.node.extend(node for node in self.graph.node if not set(node.output) & folded)
        graph.input.extend(self.graph.input)
        graph.output.extend(self.graph.output)
        graph.initializer.extend(init for init in self.graph.initializer if init.name in self.constants)
        graph.initializer.extend(numpy_helper.from_array(self.constants[name], name) for name in sorted(folded))
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
            dims = [int(d.dim_value) if d.HasField("dim_value") else None for d in tensor.shape.dim]
            shapes[value.name] = None if None in dims else tuple(d for d in dims if d is not None)
        shapes.update(self.constant_shapes)
        return shapes

    def is_static(self, tensor: str) -> bool:
        return tensor in self.static

    def is_learned(self, tensor: str) -> bool:
        for _ in range(limits.current().layers):
            if tensor in self.initializers:
                return True
            node = self.folded.get(tensor)
            if node is None or node.op_type not in RESHAPES or not node.inputs:
                return False
            tensor = node.inputs[0]
        return False

    def shape(self, tensor: str, node: _OnnxNode) -> tuple[int, ...]:
        shape = self.shapes.get(tensor)
        if shape is None:
            raise self.fail(f"ONNX shape inference gives no static shape for '{tensor}'", node.name)
        return shape

    def constant(self, tensor: str, node: _OnnxNode, what: str) -> np.ndarray:
        value = self.value(tensor)
        if value is None:
            raise self.fail(f"{node.op_type}'s {what} must be a constant (computed from constants only)", node.name)
        return value

    def value(self, tensor: str) -> np.ndarray | None:
        """A constant tensor's value: an initializer, a Constant, or computed from them (whatever the
        operators: ``Expand(w, Shape(w))``, axes from a ``Concat`` of constants), once. None for a
        tensor that depends on the image."""
        if tensor in self.constants:
            return self.constants[tensor]
        stored = self.initializers.get(tensor)
        if stored is not None:
            from onnx import numpy_helper

            limits.check_memory(8 * math.prod(stored.dims), f"reading {tensor} of {self.display}")
            self.constants[tensor] = numpy_helper.to_array(stored)
            return self.constants[tensor]
        node = self.folded.get(tensor)
        if node is None:
            return None
        for output, value in zip(node.outputs, self.fold(node), strict=False):
            self.constants[output] = value
        return self.constants.get(tensor)

    def fold(self, node: _OnnxNode) -> list[np.ndarray]:
        """The outputs of a node whose inputs are all constants (or whose output is a fixed shape)."""
        if node.op_type in ("Shape", "Size"):
            shape = self.shape(node.inputs[0], node)
            if node.op_type == "Size":
                return [np.array(math.prod(shape), dtype=np.int64)]
            start, end = node.attrs.get("start", 0), node.attrs.get("end")
            return [np.array(shape[start:end], dtype=np.int64)]
        inputs = []
        for name in node.inputs:
            if not name:
                continue
            value = self.value(name)
            if value is None:  # not reached: a folded node's inputs are constants
                raise self.fail(f"{node.op_type}: input '{name}' is not a constant", node.name)
            inputs.append((name, value))
        sizes = [math.prod(self.shapes.get(o) or (0,)) for o in node.outputs if o]
        limits.check_memory(8 * (sum(sizes) + sum(v.size for _, v in inputs)), f"computing {node.name}")
        try:
            return self.evaluate(node, dict(inputs))
        except Exception as err:  # the reference implementation's own errors, of many types
            raise self.fail(f"{node.op_type} of constants could not be computed: {err}", node.name) from None

    def evaluate(self, node: _OnnxNode, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        from onnx.reference import ReferenceEvaluator

        return list(ReferenceEvaluator(node.proto, opsets={"": self.opset}).run(None, inputs))

    def measured_shapes(self, nodes: list[_OnnxNode]) -> set[str]:
        """The values of Shape nodes whose input's shape inference now knows (batch 1), as constants not
        yet known: what the sizes computed from them (a Slice's ends) need to be folded and inferred."""
        made: set[str] = set()
        for node in nodes:
            if node.op_type != "Shape" or not node.outputs or node.outputs[0] in self.constants:
                continue
            shape = self.shapes.get(node.inputs[0]) if node.inputs else None
            if shape is None:
                continue
            start, end = int(node.attrs.get("start", 0)), node.attrs.get("end")
            value = np.array(shape[start : None if end is None else int(end)], dtype=np.int64)
            self.constants[node.outputs[0]] = value
            self.constant_shapes[node.outputs[0]] = tuple(value.shape)
            made.add(node.outputs[0])
        return made

    def prefold(self, nodes: list[_OnnxNode]) -> set[str]:
        """Small constants computed from small constants, before shape inference: inference then sees
        their values (a ReduceMean's axes computed by a Concat of Constants). Returns the tensors made."""
        done: set[str] = set()
        for node in nodes:
            if node.op_type == "Constant" or not node.inputs or not all(node.outputs):
                continue
            if not all(name == "" or name in self.constants for name in node.inputs):
                continue
            try:
                values = self.evaluate(node, {name: self.constants[name] for name in node.inputs if name})
            except Exception:  # noqa: S112 - left for fold(), which names the node if the value is needed
                continue
            if len(values) != len(node.outputs) or any(np.asarray(v).size > SMALL_CONSTANT for v in values):
                continue
            for output, value in zip(node.outputs, values, strict=True):
                self.constants[output] = np.asarray(value)
                self.constant_shapes[output] = tuple(np.asarray(value).shape)
            done.update(node.outputs)
        return done

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

    def producer(self, tensor: str) -> _OnnxNode | None:
        return self.producers.get(tensor)

    def claimed(self, node: _OnnxNode) -> tuple[str, list[_OnnxNode], _OnnxNode] | None:
        """What the pattern reader of ``node``'s operator finds from it (``claims``), worked out once: the
        pass that takes the nodes a pattern absorbs and the operator's ``from_onnx`` both ask."""
        if node.name not in self._claims:
            claims = getattr(IMPORTERS.get(node.op_type), "claims", None)
            self._claims[node.name] = claims(node, self) if claims is not None else None
        found: tuple[str, list[_OnnxNode], _OnnxNode] | None = self._claims[node.name]
        return found

    def regions(self, start: _OnnxNode, limit: int) -> Iterator[tuple[list[_OnnxNode], _OnnxNode]]:
        """The nodes computing from ``start``'s outputs alone (and constants), in order, at each node
        whose outputs are all that the ones before leave to be read; within ``limit`` nodes, and until
        another activation comes in."""
        made, region = set(start.outputs), [start]
        position = self.position.get(start.name, len(self.nodes))
        for node in self.nodes[position + 1 : position + 1 + limit]:
            activations = [i for i in node.inputs if i and not self.is_static(i)]
            if not any(i in made for i in activations):
                continue
            if not all(i in made for i in activations):
                return
            region.append(node)
            made.update(o for o in node.outputs if o)
            inside = {n.name for n in region}
            leaving = {
                t
                for t in made
                if t in self.graph_outputs or any(user.name not in inside for user in self.consumers.get(t, []))
            }
            if leaving <= set(node.outputs):
                yield list(region), node

    def computes(self, nodes: list[_OnnxNode], source: str, probe: np.ndarray) -> np.ndarray | None:
        """What ``nodes`` make of ``probe`` given as ``source`` (their constants as in the file), by ONNX's
        reference implementation; None where it cannot run them."""
        from onnx import TensorProto, helper, numpy_helper
        from onnx.reference import ReferenceEvaluator

        made = {o for n in nodes for o in n.outputs}
        sizes = [math.prod(self.shapes.get(o) or (0,)) for o in made if o]
        limits.check_memory(8 * (probe.size + sum(sizes)), f"checking what {nodes[-1].name} computes")
        constants = {i for n in nodes for i in n.inputs if i and i != source and i not in made}
        values = {name: self.value(name) for name in sorted(constants)}
        if any(v is None for v in values.values()):
            return None
        graph = helper.make_graph(
            [n.proto for n in nodes],
            "region",
            [helper.make_tensor_value_info(source, TensorProto.FLOAT, list(probe.shape))],
            [helper.make_tensor_value_info(nodes[-1].outputs[0], TensorProto.FLOAT, None)],
            initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in values.items()],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            return np.asarray(next(iter(ReferenceEvaluator(model).run(None, {source: probe}))))
        except Exception:  # the reference implementation's own errors, of many types
            return None

    # -- one node ---------------------------------------------------------------------------------

    def add(
        self,
        node: _OnnxNode,
        op: str,
        inputs: list[str],
        output: str | None = None,
        name: str | None = None,
        **attrs: Any,
    ) -> None:
        layer = node.name if name is None else self.unused_name(name)
        made = output or node.outputs[0]
        last = {i in self.channels_last for i in inputs}
        if len(last) > 1:  # a view and a tensor the file holds channels last: the view made real
            inputs = [self.plain(i, node) for i in inputs]
            last = {False}
        entry: dict[str, Any] = {"op": op, "name": layer, "from": [self.src(i, node) for i in inputs]}
        entry.update(attrs)
        if True in last:
            if op not in CHANNELS_LAST_OPS:
                raise self.fail(
                    f"{node.op_type} on a channels-last tensor (after a Transpose) is not supported", node.name
                )
            self.channels_last.add(made)
        batches = {self.batch_axis(i) for i in inputs}
        if len(batches) > 1:
            raise self.fail(f"{node.op_type} of tensors whose batch axes differ is not supported", node.name)
        self.layers.append(entry)
        self.source[made] = layer
        self.layer_outputs[layer] = made
        self.place_batch(made, batches.pop() if batches else 0)

    def batch_axis(self, tensor: str) -> int | None:
        return self.batch_axes.get(tensor, 0)

    def place_batch(self, tensor: str, axis: int | None) -> None:
        if axis == 0:
            self.batch_axes.pop(tensor, None)
        else:
            self.batch_axes[tensor] = axis

    def per_image(self, tensor: str, node: _OnnxNode) -> tuple[int, ...]:
        batch = self.batch_axis(tensor)
        return tuple(size for axis, size in enumerate(self.shape(tensor, node)) if axis != batch)

    def image_axis(self, tensor: str, axis: int, node: _OnnxNode) -> int:
        rank = len(self.shape(tensor, node))
        if not -rank <= axis < rank:
            raise self.fail(f"{node.op_type} axis {axis} is not an axis of a rank-{rank} tensor", node.name)
        axis %= rank
        batch = self.batch_axis(tensor)
        if axis == batch:
            raise self.fail(f"{node.op_type} along the batch axis (axis {axis}) is not supported", node.name)
        return axis - (batch is not None and axis > batch)

    def plain(self, tensor: str, node: _OnnxNode) -> str:
        if tensor not in self.channels_last:
            return tensor
        made = f"{tensor}#channels_last"
        if made not in self.source:
            self.shapes[made] = self.shapes.get(tensor)
            layer = self.unused_name(f"{node.name}/channels_last")
            self.layers.append({"op": "transpose", "name": layer, "from": [self.src(tensor, node)], "perm": [1, 2, 0]})
            self.source[made] = layer
            self.layer_outputs[layer] = made
        return made

    def is_channels_last(self, tensor: str) -> bool:
        return tensor in self.channels_last

    def alias(self, tensor: str, source: str, node: _OnnxNode) -> None:
        """``tensor`` is ``source`` again (a reshape and its exact undoing): the same layer's output."""
        self.source[tensor] = self.src(source, node)
        if source in self.channels_last:
            self.channels_last.add(tensor)
        self.place_batch(tensor, self.batch_axis(source))

    def view(self, node: _OnnxNode, channels_last: bool) -> None:
        """``node`` (a Transpose between [N, C, H, W] and [N, H, W, C]) makes no layer: its output is
        its input's layer seen the other way round."""
        self.alias(node.outputs[0], node.inputs[0], node)
        (self.channels_last.add if channels_last else self.channels_last.discard)(node.outputs[0])

    def unused_name(self, name: str) -> str:
        """``name``, or ``name_2``, ``name_3``... when a node or another layer already has it (one node's
        several layers are named apart from every node, so each name still says which node it came from)."""
        candidate, n = name, 1
        while candidate in self.node_names or candidate in self.layer_outputs:
            n += 1
            candidate = f"{name}_{n}"
        return candidate

    def layer(self, node: _OnnxNode) -> None:
        IMPORTERS[node.op_type].from_onnx(node, self)  # checked before: only supported operators get here

    def stored(self, node: _OnnxNode, array: str, tensor: str, how: str = "", scale: float = 1.0) -> None:
        initializer = self.initializers.get(tensor)
        known = self.constants.get(tensor)
        if (initializer is not None and initializer.data_type == _BOOL) or (known is not None and known.dtype == bool):
            raise self.fail(f"{node.op_type}'s {array} '{tensor}' holds booleans; a weight holds numbers", node.name)
        self.arrays.setdefault(node.name, {})[array] = (tensor, how, scale)

    def absorb(self, node: _OnnxNode) -> None:
        """``node`` is part of the layer being read (a fully-connected layer's bias add)."""
        self.absorbed.add(node.name)

    def shape_of(self, tensor: str) -> tuple[int, ...] | None:
        return self.shapes.get(tensor)

    def static_shape(self, tensor: str) -> tuple[int, ...] | None:
        shape = self.constant_shapes.get(tensor)
        if shape is None and tensor in self.folded:  # computed from constants (an Identity of another)
            value = self.value(tensor)
            if value is not None:
                shape = self.constant_shapes[tensor] = tuple(int(d) for d in value.shape)
        return shape

    def activation_inputs(self, node: _OnnxNode) -> list[str]:
        return [i for i in node.inputs if i and not self.is_static(i)]

    def spatial(self, node: _OnnxNode, tensor: str) -> tuple[int, int, int]:
        shape = self.shape(tensor, node)
        if len(shape) != 4:
            raise self.fail(f"{node.op_type} needs an [N, C, H, W] input, got shape {list(shape)}", node.name)
        if tensor in self.channels_last:  # [N, H, W, C]
            return shape[3], shape[1], shape[2]
        return shape[1], shape[2], shape[3]

    def window(
        self, node: _OnnxNode, kernel: list[int], ceil_mode: bool = False, dilated: bool = False
    ) -> dict[str, Any]:
        """k, stride and pad of a Conv or pooling node, as costmodel attributes, and ``dilation`` where the
        operator reads one (``dilated``: a Conv) and it is not 1; the padding is over the dilated window."""
        attrs = node.attrs
        if len(kernel) != 2:
            raise self.fail(f"only 2-D {node.op_type} is supported, got a {len(kernel)}-D kernel", node.name)
        given = [int(d) for d in attrs.get("dilations", [1, 1])]
        if not dilated and any(d != 1 for d in given):
            raise self.fail(f"dilated {node.op_type} (dilations {given}) is not supported", node.name)
        if len(given) != 2 or min(given) < 1:
            raise self.fail(f"{node.op_type} dilations must be 2 positive values, got {given}", node.name)
        reach = [(k - 1) * d + 1 for k, d in zip(kernel, given, strict=True)]  # the rows and columns it spans
        strides = [int(v) for v in attrs.get("strides", [1, 1])]
        if len(strides) != 2 or min(strides) < 1:
            raise self.fail(f"{node.op_type} strides must be 2 positive values, got {strides}", node.name)
        auto_pad = str(attrs.get("auto_pad", "NOTSET"))
        if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
            raise self.fail(
                f"{node.op_type} auto_pad {auto_pad!r} is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", node.name
            )
        _, h, w = self.spatial(node, node.inputs[0])
        out = self.shapes.get(node.outputs[0])
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            pad: Any = "same"
        elif auto_pad == "VALID":
            pad = 0
        else:
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if len(pads) != 4:
                raise self.fail(
                    f"{node.op_type} pads must hold 4 values (begin and end of both axes), got {pads}", node.name
                )
            pad = self.pads(node, pads, (h, w), reach, strides, out, ceil_mode)
        window = {"k": _compact(kernel), "stride": _compact(strides), "pad": pad}
        return window if given == [1, 1] else {**window, "dilation": _compact(given)}

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
        same = [intmath.same_pads(s, k, st) for s, k, st in zip(size, kernel, strides, strict=True)]
        if [(top, bottom), (left, right)] == same:
            return "same"  # TensorFlow's: the odd pixel after
        if node.op_type == "Conv":
            return [top, left, bottom, right]  # a pad layer before the convolution (Conv reads it so)
        # A pool's other asymmetric padding: only the output size matters for the counts; find symmetric
        # padding or 'same' that gives the same output.
        if out is not None and len(out) == 4:
            if all(o == intmath.same_out(s, st) for o, s, st in zip(out[2:], size, strides, strict=True)):
                return "same"
            if (top + bottom) % 2 == 0 and (left + right) % 2 == 0:
                return _compact([(top + bottom) // 2, (left + right) // 2])
        raise self.fail(
            f"asymmetric padding {pads} of {node.op_type} is not supported (no symmetric or 'same' padding "
            "gives the same output)",
            node.name,
        )

    def is_flatten(self, node: _OnnxNode) -> bool:
        if node.op_type not in ("Flatten", "Reshape"):
            return False
        source = self.shapes.get(node.inputs[0])
        out = self.shapes.get(node.outputs[0])
        if source is None or out is None or len(out) != 2 or out[0] != source[0] or source[0] != 1:
            return False
        if node.op_type == "Flatten" and node.attrs.get("axis", 1) not in (1, 1 - len(source)):
            return False
        return out[1] == int(np.prod(source[1:]))


def _compact(values: Iterable[int]) -> Any:
    """One number when both sides agree, else [h, w] (as a spec writes them)."""
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values
