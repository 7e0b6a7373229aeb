"""What every operator is: attributes, weight kinds, capabilities, the registry and shape helpers.

An operator is a frozen dataclass registered under its YAML name. Its fields are the schema of its YAML
entry; its methods are its capabilities: the shape rule, the weight arrays (parameter counts are derived
from these, never typed separately), the multiply-accumulates, the other ops, the NumPy kernel, and
how it is written to and read from ONNX. The base class only holds placeholders for them, marked
:func:`undeclared`, so that a registered operator that forgets one is caught by a test rather than by
a user. All formulas go through :mod:`costmodel.intmath`, so they give exact integers for a concrete
point and sympy closed forms for symbols.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar, Protocol, TypeVar

from costmodel import intmath
from costmodel.intmath import Value

Shape = tuple[Value, ...]
Array = Any  # a numpy.ndarray (numpy is imported only when a kernel runs)

# Field kinds: how a YAML value becomes an attribute value.
EXPR = "expr"  # an integer expression
INDEX = "index"  # a whole number of at least 0: a position along an axis, never scaled by the width rule
CHANNELS = "channels"  # an integer expression scaled by the spec's width rule unless fixed()
PAIR = "pair"  # an expression or [h, w]
PAD = "pad"  # like PAIR, or 'same' / 'valid'
FLAG = "flag"  # true / false
NUMBER = "number"  # any number (dropout probability)
SIZES = "sizes"  # a list of integer expressions of at least 1 (a reshape's target shape)
AXES = "axes"  # a list of whole numbers of at least 0 (a transpose's permutation of the axes)
# A tuple of words as a kind: the attribute is one of them (how the PyTorch code calls a pool).
MAX_AXES = 8  # the most axes a tensor of one image may have (a Swin window partition has 5)

WEIGHT = "weight"
BIAS = "bias"
NORM_AFFINE = "norm_affine"
NORM_STATS = "norm_stats"
WEIGHT_KINDS = (WEIGHT, BIAS, NORM_AFFINE, NORM_STATS)

# What a registered operator must declare (a method of its own or of a family base, not Operator's).
CAPABILITIES = ("output_shape", "weights", "macs", "other_ops", "kernel", "to_onnx", "from_onnx")


class ShapeError(ValueError):
    """The operator cannot take these inputs (the graph adds file, line and layer)."""


@dataclass(frozen=True)
class WeightArray:
    kind: str
    shape: Shape

    @property
    def size(self) -> Value:
        return product(self.shape)


_REQUIRED = object()


def attr(kind: str | tuple[str, ...], default: Any = _REQUIRED, doc: str = "", note: str = "", shown: str = "") -> Any:
    """A dataclass field carrying its YAML kind; without a default the attribute is required.

    ``note`` qualifies it in the reference table (``constant``), ``shown`` says what a default of None
    means there (``k``).
    """
    meta = {"kind": kind, "doc": doc, "note": note, "shown": shown}
    if default is _REQUIRED:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def product(values: Shape) -> Value:
    result: Value = 1
    for v in values:
        result = result * v
    return result


def known(*values: Value) -> bool:
    """Whether every value is a number (a shape check can only decide on numbers)."""
    return all(intmath.is_number(v) for v in values)


_F = TypeVar("_F", bound=Callable[..., Any])


def undeclared(method: _F) -> _F:
    """Mark the base class's placeholder of a capability."""
    method.undeclared = True  # type: ignore[attr-defined]
    return method


def declares(cls: type[Operator], capability: str) -> bool:
    """Whether ``cls`` declares ``capability`` itself or through a family base (not the placeholder)."""
    member = inspect.getattr_static(cls, capability)
    member = getattr(member, "__func__", member)  # a classmethod's function
    return not getattr(member, "undeclared", False)


REGISTRY: dict[str, type[Operator]] = {}
_FIELDS: dict[type, tuple[Field[Any], ...]] = {}
_SCHEMAS: dict[type, dict[str, str | tuple[str, ...]]] = {}


def _fields(cls: type) -> tuple[Field[Any], ...]:
    """A dataclass's fields, looked up once per class (read for every layer of a spec)."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = fields(cls)
    return found


_Op = TypeVar("_Op", bound="type[Operator]")


def register(cls: _Op) -> _Op:
    REGISTRY[cls.op_name] = cls
    return cls


class Layer(Protocol):
    """A layer evaluated at a concrete point, as the ONNX writer hands it to its operator (a
    :class:`costmodel.graph.Node`; the operators need only this much of it)."""

    @property
    def name(self) -> str: ...

    @property
    def op(self) -> Operator: ...

    @property
    def inputs(self) -> tuple[str, ...]: ...

    @property
    def input_shapes(self) -> tuple[Shape, ...]: ...


class OnnxWriter(Protocol):
    """What an operator's :meth:`Operator.to_onnx` may ask of the exporter."""

    def inputs(self, node: Layer) -> list[str]:
        """The tensors holding the layer's inputs."""
        ...

    def emit(self, op_type: str, name: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        """Add one ONNX node named ``name``; returns its output tensor: ``output``, by default named as the
        node (so a layer written as several nodes can give its name to the node an importer reads it by,
        whichever node makes the layer's output)."""
        ...

    def constant(self, layer: str, name: str, value: Array) -> str:
        """Add a float32 initializer ``layer/name``; returns its name."""
        ...

    def integers(self, layer: str, name: str, values: list[int] | Array) -> str:
        """Add an int64 initializer ``layer/name`` (a Slice's bounds, a Reshape's shape, a GatherND's
        indices); returns its name."""
        ...

    def weights(self, node: Layer, transposed: bool = False, fixed: bool = False) -> list[str]:
        """The layer's weight arrays as initializers, in declaration order (a host's with its batch norm
        folded in, and then a bias); ``transposed``: its 2-D weight as (in, out), as a MatMul takes it;
        ``fixed``: as Constant nodes (data, not parameters: an importer reads them so)."""
        ...


class OnnxReader(Protocol):
    """What an operator's :meth:`Operator.from_onnx` may ask of the importer (``node`` is its ONNX node:
    ``name``, ``op_type``, ``inputs``, ``outputs``, ``attrs``)."""

    opset: int

    def add(
        self, node: Any, op: str, inputs: list[str], output: str | None = None, name: str | None = None, **attrs: Any
    ) -> None:
        """Add a layer of operator ``op`` made from ``node`` (its output: ``output`` or the node's), named
        after the node, or ``name`` where one node makes several layers (a Split's outputs)."""
        ...

    def fail(self, message: str, layer: str | None = None) -> Exception:
        """The error to raise for an ONNX node costmodel cannot read."""
        ...

    def stored(self, node: Any, array: str, tensor: str, how: str = "", scale: float = 1.0) -> None:
        """The layer's weight ``array`` is the file's ``tensor`` ("T": transposed, "flat": flattened)."""
        ...

    def absorb(self, node: Any) -> None:
        """``node`` is part of the layer being read (a fully-connected layer's bias add)."""
        ...

    def shape(self, tensor: str, node: Any) -> tuple[int, ...]:
        """The tensor's static shape (batch 1); an error naming ``node`` when inference gives none."""
        ...

    def shape_of(self, tensor: str) -> tuple[int, ...] | None: ...

    def static_shape(self, tensor: str) -> tuple[int, ...] | None:
        """The shape of a constant (an initializer or a Constant node's value)."""
        ...

    def constant(self, tensor: str, node: Any, what: str) -> Array: ...

    def is_static(self, tensor: str) -> bool: ...

    def is_learned(self, tensor: str) -> bool:
        """Whether ``tensor`` is one of the file's parameters as stored, or only reshaped (rather than
        computed from them, as Swin v2's exponentiated logit scale is, or from nothing learned)."""
        ...

    def activation_inputs(self, node: Any) -> list[str]:
        """The node's inputs that are not constants."""
        ...

    def only_consumer(self, tensor: str) -> Any | None:
        """The one node that reads ``tensor``, if only one does and it is not a graph output."""
        ...

    def producer(self, tensor: str) -> Any | None:
        """The node that makes ``tensor`` from the image (None for the input and for constants)."""
        ...

    def is_flatten(self, node: Any) -> bool:
        """Whether a Flatten or Reshape node flattens to [N, C·H·W]."""
        ...

    def spatial(self, node: Any, tensor: str) -> tuple[int, int, int]:
        """(C, H, W) of an [N, C, H, W] tensor (or of its [N, H, W, C] view); an error otherwise."""
        ...

    def is_channels_last(self, tensor: str) -> bool:
        """Whether ``tensor`` is an [N, H, W, C] view of a layer's output (after a Transpose)."""
        ...

    def alias(self, tensor: str, source: str, node: Any) -> None:
        """``tensor`` holds what ``source`` holds (a reshape and its exact undoing): no layer."""
        ...

    def view(self, node: Any, channels_last: bool) -> None:
        """``node`` (a Transpose to or from channels last) makes no layer: its output is its input's."""
        ...

    def claimed(self, node: Any) -> tuple[str, list[Any], Any] | None:
        """What ``node``'s operator's ``claims`` finds from it, worked out once per node."""
        ...

    def batch_axis(self, tensor: str) -> int | None:
        """Where the tensor's batch axis is (0 unless a reshape or transpose moved it; None once the
        batch of one was merged into another axis: then the file's axes are one image's)."""
        ...

    def place_batch(self, tensor: str, axis: int | None) -> None:
        """The batch axis of ``tensor`` (a reshape's or transpose's output) is ``axis``."""
        ...

    def per_image(self, tensor: str, node: Any) -> tuple[int, ...]:
        """The tensor's shape without its batch axis: one image's, as costmodel's layers see it."""
        ...

    def image_axis(self, tensor: str, axis: int, node: Any) -> int:
        """One image's axis for the file's ``axis`` of ``tensor`` (negative counts from the end); an error
        naming ``node`` when it is the batch axis or no axis."""
        ...

    def plain(self, tensor: str, node: Any) -> str:
        """``tensor`` as the file holds it: a channels-last view of a layer's (C, H, W) output gets a
        ``transpose`` layer (named after ``node``) that makes its (H, W, C) real."""
        ...

    def regions(self, start: Any, limit: int) -> Iterator[tuple[list[Any], Any]]:
        """The nodes computing from ``start``'s outputs alone, at each node whose outputs are all the
        ones before leave to be read (and that node); within ``limit`` nodes, until another activation
        comes in."""
        ...

    def computes(self, nodes: list[Any], source: str, probe: Array) -> Array | None:
        """What ``nodes`` make of ``probe`` given as ``source``, by ONNX's reference implementation."""
        ...

    def window(self, node: Any, kernel: list[int], ceil_mode: bool = False, dilated: bool = False) -> dict[str, Any]:
        """k, stride and pad of a Conv or pooling node, as costmodel attributes; a Conv's asymmetric
        padding that is not TensorFlow's 'same' is a list [top, left, bottom, right] (a pad layer).
        With ``dilated`` (a Conv), its ``dilation`` too where not 1; the padding is over the dilated window."""
        ...


@dataclass(frozen=True)
class Operator:
    """An operator type: its attributes are the dataclass fields, its capabilities the methods."""

    op_name: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1
    other_ops_per_element: ClassVar[int] = 0
    # How specs/README.md's reference tables describe it (generated: costmodel.ops.reference).
    shape_doc: ClassVar[str] = "same"
    params_doc: ClassVar[str] = "—"
    macs_doc: ClassVar[str] = "0"
    other_ops_doc: ClassVar[str] = "0"
    # An elementwise kernel that can write its result over its input (it has kernel_in_place): the
    # executor passes overwrite=True when nothing else will read that input.
    in_place: ClassVar[bool] = False
    # A layer whose kernel takes an ``activation`` to run on its output while it is in cache (Epilogue).
    runs_activation: ClassVar[bool] = False
    # An elementwise activation such a layer may run for it (it has kernel_in_place).
    fusable_activation: ClassVar[bool] = False
    # A per-channel affine map that folds into the layer before it when that layer takes it (batch norm).
    folds_into_host: ClassVar[bool] = False
    # A layer whose weight and bias can absorb a per-channel affine map after it (conv, linear).
    takes_folded_norm: ClassVar[bool] = False
    # The identity at inference (dropout): its kernel returns its input, so it makes no tensor of its own.
    passes_input: ClassVar[bool] = False
    # A layer that flattens a (C, H, W) input itself: an ONNX Flatten that only feeds it is part of it.
    flattens_input: ClassVar[bool] = False
    # The ONNX operator types :meth:`from_onnx` reads; () says the operator is never imported.
    onnx_types: ClassVar[tuple[str, ...] | None] = None

    @classmethod
    def schema(cls) -> dict[str, str | tuple[str, ...]]:
        """Each attribute's YAML kind (read for every layer at every point: kept per class)."""
        schema = _SCHEMAS.get(cls)
        if schema is None:
            schema = _SCHEMAS[cls] = {f.name: f.metadata["kind"] for f in _fields(cls)}
        return schema

    @classmethod
    def constants(cls) -> set[str]:
        """The attributes that must be constants (``note="constant"``): checked as a spec is read, so
        that a symbol there is refused by every command, not only by the closed forms."""
        return {f.name for f in _fields(cls) if f.metadata.get("note") == "constant"}

    @classmethod
    def required(cls) -> set[str]:
        return {f.name for f in _fields(cls) if f.default is MISSING}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each attribute's default (dataclasses.MISSING for a required one)."""
        return {f.name: f.default for f in _fields(cls)}

    @undeclared
    def output_shape(self, inputs: list[Shape]) -> Shape:
        raise NotImplementedError(f"{self.op_name} declares no shape rule")

    @undeclared
    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        raise NotImplementedError(f"{self.op_name} declares no weights")

    @undeclared
    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        raise NotImplementedError(f"{self.op_name} declares no MAC count")

    @undeclared
    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        raise NotImplementedError(f"{self.op_name} declares no count of other ops")

    def type_label(self, inputs: list[Shape]) -> str:
        """The row this operator counts under in a breakdown by operator type."""
        return self.op_name

    @undeclared
    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Run the operator on float32 batches: (N, C, H, W) or (N, F) arrays, one per input.

        ``weights`` holds exactly the arrays of :meth:`weights` (same names and shapes). Returns the
        output batch and the multiply-accumulates performed, counted from the operand shapes of the
        products that ran (an (M, K) x (K, N) matmul counts M·K·N; a window multiply-add over an array
        of E elements counts E per window offset), for the whole batch. Elementwise scaling (batch norm,
        a gate, an average's divide) is not a product in this sense: it counts under other ops, as in
        the formulas.
        """
        raise NotImplementedError(f"{self.op_name} has no NumPy kernel")

    def kernel_then(self, inputs: list[Array], weights: dict[str, Array], activation: Operator) -> tuple[Array, int]:
        """The kernel, running ``activation`` on its output while it is in cache (where
        :attr:`runs_activation`)."""
        raise NotImplementedError(f"{self.op_name} runs no activation for the layer after it")

    def kernel_in_place(self, inputs: list[Array], weights: dict[str, Array], overwrite: bool) -> tuple[Array, int]:
        """The kernel, writing over its input when ``overwrite`` (only where :attr:`in_place`)."""
        raise NotImplementedError(f"{self.op_name} has no in-place kernel")

    @undeclared
    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        """Write the layer ``node`` (of this operator, at a concrete point) as ONNX nodes."""
        raise NotImplementedError(f"{self.op_name} declares no ONNX export")

    @classmethod
    @undeclared
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        """Read an ONNX node of one of :attr:`onnx_types` as a layer (``reader.add``)."""
        raise NotImplementedError(f"{cls.op_name} declares no ONNX import")


@dataclass(frozen=True)
class ParameterFree(Operator):
    """An operator without weights or products: pools, merges, reshapes, activations."""

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        return {}

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return 0

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return self.other_ops_per_element * product(output)


@dataclass(frozen=True)
class Elementwise(ParameterFree):
    """A single-input operator whose output has its input's shape (activations, dropout)."""

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]


@dataclass(frozen=True)
class Epilogue:
    """What a conv or linear layer does to its output right after its products, block by block while
    the block is in cache: add its bias, then run the activation the executor fused into it."""

    bias: Array | None = None
    activation: Operator | None = None

    def __call__(self, block: Array, channel_axis: int) -> None:
        if self.bias is not None:
            shape = [1] * block.ndim
            shape[channel_axis] = -1
            block += self.bias.reshape(shape) if self.bias.ndim == 1 else self.bias
        if self.activation is not None:
            self.activation.kernel_in_place([block], {}, overwrite=True)

    def along_rows(self, width: int) -> Epilogue:
        """The same epilogue for channels-last blocks (..., width, C): the bias tiled to (width, C), so
        that its add runs along whole rows rather than C values at a time."""
        if self.bias is None:
            return self
        return Epilogue(numpy().tile(self.bias, (width, 1)), self.activation)


# -- shape helpers ---------------------------------------------------------------------------------


def pair(value: Any) -> tuple[Value, Value]:
    if isinstance(value, tuple):
        return value
    return (value, value)


def positive(value: Value, what: str) -> None:
    if intmath.is_number(value) and (value != int(value) or value < 1):
        raise ShapeError(f"{what} must be a positive integer, got {value}")


def nonnegative(value: Value, what: str) -> None:
    if intmath.is_number(value) and (value != int(value) or value < 0):
        raise ShapeError(f"{what} must be a whole number of at least 0, got {value}")


def pads(pad: Any) -> tuple[Any, Any]:
    """(height, width) padding; 'same' and 'valid' stay as they are, numbers must not be negative."""
    if pad in ("same", "valid"):
        return pad, pad
    ph, pw = pair(pad)
    nonnegative(ph, "pad")
    nonnegative(pw, "pad")
    return ph, pw


def spatial(shape: Shape, op: str) -> tuple[Value, Value, Value]:
    if len(shape) != 3:
        raise ShapeError(f"{op} needs a (channels, height, width) input, got shape {show_shape(shape)}")
    return shape[0], shape[1], shape[2]


def axis_of(axis: Value, shape: Shape, op: str) -> int:
    """``axis`` as an index of ``shape`` (an operator's ``axis`` attribute); an error when it is none."""
    if not known(axis) or not 0 <= int(axis) < len(shape):
        raise ShapeError(f"{op} axis {axis} is not an axis of its {len(shape)}-axis input {show_shape(shape)}")
    return int(axis)


def show_shape(shape: Shape) -> str:
    return "×".join(str(s) for s in shape)


def window_out(op: str, size: Value, kernel: Value, stride: Value, pad: Any, ceil_mode: bool, axis: str) -> Value:
    """Output side of a conv or pool window along one axis; an error when not one window fits."""
    if pad == "same":
        out = intmath.same_out(size, stride)
    else:
        out = intmath.conv_out(size, kernel, stride, 2 * (0 if pad == "valid" else pad), ceil_mode)
    if intmath.is_number(out) and out < 1:
        raise ShapeError(
            f"input {axis} {size} is too small for the {kernel}-wide {op} window (stride {stride}, padding {pad})"
        )
    return out


def numpy() -> Any:
    """NumPy, imported when a kernel first runs: counting never needs it."""
    import numpy

    return numpy


def ints(*values: Value) -> tuple[int, ...]:
    return tuple(int(v) for v in values)
