"""The operator registry: each operator type defined once.

An operator is a frozen dataclass registered under its YAML name. Its fields are the schema of its YAML
entry; beside them sit its shape rule, its weight shapes (parameter counts are derived from these, never
typed separately), its multiply-accumulate count and its count of other ops. All formulas go through
:mod:`costmodel.intmath`, so they give exact integers for a concrete point and sympy closed forms for
symbols. Adding an operator is one class here and one row in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from costmodel import intmath
from costmodel.intmath import Value

Shape = tuple[Value, ...]

# Field kinds: how a YAML value becomes an attribute value.
EXPR = "expr"  # an integer expression
CHANNELS = "channels"  # an integer expression scaled by the spec's width rule unless fixed()
PAIR = "pair"  # an expression or [h, w]
PAD = "pad"  # like PAIR, or 'same' / 'valid'
FLAG = "flag"  # true / false
NUMBER = "number"  # any number (dropout probability)

WEIGHT = "weight"
BIAS = "bias"
NORM_AFFINE = "norm_affine"
NORM_STATS = "norm_stats"
WEIGHT_KINDS = (WEIGHT, BIAS, NORM_AFFINE, NORM_STATS)


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


def attr(kind: str, default: Any = _REQUIRED, doc: str = "") -> Any:
    """A dataclass field carrying its YAML kind; without a default the attribute is required."""
    meta = {"kind": kind, "doc": doc}
    if default is _REQUIRED:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def product(values: Shape) -> Value:
    result: Value = 1
    for v in values:
        result = result * v
    return result


def _known(*values: Value) -> bool:
    return all(intmath.is_number(v) for v in values)


REGISTRY: dict[str, type[Operator]] = {}


def register(cls: type[Operator]) -> type[Operator]:
    REGISTRY[cls.op_name] = cls
    return cls


@dataclass(frozen=True)
class Operator:
    """Base: an elementwise, parameter-free, single-input operator."""

    op_name: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1
    other_ops_per_element: ClassVar[int] = 0
    doc: ClassVar[str] = ""

    @classmethod
    def schema(cls) -> dict[str, str]:
        return {f.name: f.metadata["kind"] for f in fields(cls)}

    @classmethod
    def required(cls) -> set[str]:
        from dataclasses import MISSING

        return {f.name for f in fields(cls) if f.default is MISSING}

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        return {}

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return 0

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return self.other_ops_per_element * product(output)

    def type_label(self, inputs: list[Shape]) -> str:
        """The row this operator counts under in a breakdown by operator type."""
        return self.op_name


def _pair(value: Any) -> tuple[Value, Value]:
    if isinstance(value, tuple):
        return value
    return (value, value)


def _positive(value: Value, what: str) -> None:
    if intmath.is_number(value) and (value != int(value) or value < 1):
        raise ShapeError(f"{what} must be a positive integer, got {value}")


def _nonnegative(value: Value, what: str) -> None:
    if intmath.is_number(value) and (value != int(value) or value < 0):
        raise ShapeError(f"{what} must be a whole number of at least 0, got {value}")


def _pads(pad: Any) -> tuple[Any, Any]:
    """(height, width) padding; 'same' and 'valid' stay as they are, numbers must not be negative."""
    if pad in ("same", "valid"):
        return pad, pad
    ph, pw = _pair(pad)
    _nonnegative(ph, "pad")
    _nonnegative(pw, "pad")
    return ph, pw


def _spatial(shape: Shape, op: str) -> tuple[Value, Value, Value]:
    if len(shape) != 3:
        raise ShapeError(f"{op} needs a (channels, height, width) input, got shape {_fmt(shape)}")
    return shape[0], shape[1], shape[2]


def _fmt(shape: Shape) -> str:
    return "×".join(str(s) for s in shape)


def _window_out(op: str, size: Value, kernel: Value, stride: Value, pad: Any, ceil_mode: bool, axis: str) -> Value:
    if pad == "same":
        out = intmath.same_out(size, stride)
    else:
        out = intmath.conv_out(size, kernel, stride, 2 * (0 if pad == "valid" else pad), ceil_mode)
    if intmath.is_number(out) and out < 1:
        raise ShapeError(
            f"input {axis} {size} is too small for the {kernel}-wide {op} window (stride {stride}, padding {pad})"
        )
    return out


@register
@dataclass(frozen=True)
class Conv2d(Operator):
    """2-D convolution: standard, grouped, depthwise (groups = in) or pointwise."""

    op_name: ClassVar[str] = "conv2d"
    out: Value = attr(CHANNELS, doc="output channels")
    k: Any = attr(PAIR, doc="kernel size, or [kh, kw]")
    stride: Any = attr(PAIR, 1)
    pad: Any = attr(PAD, 0, doc="padding per side, [ph, pw], 'same' (TensorFlow) or 'valid'")
    groups: Value = attr(EXPR, 1, doc="1, a divisor of both widths, or `in` for depthwise")
    bias: bool = attr(FLAG, True)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = _spatial(inputs[0], "conv2d")
        _positive(self.out, "out")
        _positive(self.groups, "groups")
        kh, kw = _pair(self.k)
        sh, sw = _pair(self.stride)
        for v, what in ((kh, "k"), (kw, "k"), (sh, "stride"), (sw, "stride")):
            _positive(v, what)
        if _known(c, self.groups) and c % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {c} input channels")
        if _known(self.out, self.groups) and self.out % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {self.out} output channels")
        ph, pw = _pads(self.pad)
        ho = _window_out("conv2d", h, kh, sh, ph, False, "height")
        wo = _window_out("conv2d", w, kw, sw, pw, False, "width")
        return (self.out, ho, wo)

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        c = inputs[0][0]
        kh, kw = _pair(self.k)
        arrays = {"weight": WeightArray(WEIGHT, (self.out, intmath.floor_div(c, self.groups), kh, kw))}
        if self.bias:
            arrays["bias"] = WeightArray(BIAS, (self.out,))
        return arrays

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        kh, kw = _pair(self.k)
        per_output = intmath.floor_div(inputs[0][0], self.groups) * kh * kw
        return product(output) * per_output

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) if self.bias else 0

    def type_label(self, inputs: list[Shape]) -> str:
        kh, kw = _pair(self.k)
        size = f"{kh}x{kw}"
        c = inputs[0][0]
        if self.groups == 1 or (_known(self.groups) and self.groups == 1):
            return f"conv{size}"
        if self.groups == c and self.out == c:
            return f"conv_dw{size}"
        return f"conv{size}_grouped"


@register
@dataclass(frozen=True)
class Linear(Operator):
    """Fully connected layer; a (C, H, W) input is flattened first, as Keras's Dense after Flatten."""

    op_name: ClassVar[str] = "linear"
    out: Value = attr(CHANNELS, doc="output features")
    bias: bool = attr(FLAG, True)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _positive(self.out, "out")
        return (self.out,)

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        arrays = {"weight": WeightArray(WEIGHT, (self.out, product(inputs[0])))}
        if self.bias:
            arrays["bias"] = WeightArray(BIAS, (self.out,))
        return arrays

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return self.out * product(inputs[0])

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return self.out if self.bias else 0

    def type_label(self, inputs: list[Shape]) -> str:
        return "fc"


@register
@dataclass(frozen=True)
class BatchNorm(Operator):
    """Batch normalisation over channels: γ, β learned; running mean and variance stored."""

    op_name: ClassVar[str] = "batchnorm"
    other_ops_per_element: ClassVar[int] = 2  # one multiply and one add per element at inference

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        c = (inputs[0][0],)
        return {
            "gamma": WeightArray(NORM_AFFINE, c),
            "beta": WeightArray(NORM_AFFINE, c),
            "running_mean": WeightArray(NORM_STATS, c),
            "running_var": WeightArray(NORM_STATS, c),
        }


@register
@dataclass(frozen=True)
class ReLU(Operator):
    op_name: ClassVar[str] = "relu"
    other_ops_per_element: ClassVar[int] = 1


@register
@dataclass(frozen=True)
class ReLU6(Operator):
    op_name: ClassVar[str] = "relu6"
    other_ops_per_element: ClassVar[int] = 2  # clamp below and above


@register
@dataclass(frozen=True)
class HardSwish(Operator):
    """x · relu6(x + 3) / 6 (MobileNetV3)."""

    op_name: ClassVar[str] = "hard_swish"
    other_ops_per_element: ClassVar[int] = 5  # add, two clamps, multiply, divide


@register
@dataclass(frozen=True)
class HardSigmoid(Operator):
    """relu6(x + 3) / 6 (MobileNetV3's squeeze-excite gate)."""

    op_name: ClassVar[str] = "hard_sigmoid"
    other_ops_per_element: ClassVar[int] = 4  # add, two clamps, divide


@register
@dataclass(frozen=True)
class Sigmoid(Operator):
    op_name: ClassVar[str] = "sigmoid"
    other_ops_per_element: ClassVar[int] = 3  # exp, add, divide


@register
@dataclass(frozen=True)
class Dropout(Operator):
    """Identity at inference; kept so layer lists read like the reference implementation."""

    op_name: ClassVar[str] = "dropout"
    p: Any = attr(NUMBER, 0.5)


@register
@dataclass(frozen=True)
class Softmax(Operator):
    op_name: ClassVar[str] = "softmax"
    other_ops_per_element: ClassVar[int] = 3  # exp, sum, divide


@register
@dataclass(frozen=True)
class Flatten(Operator):
    op_name: ClassVar[str] = "flatten"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (product(inputs[0]),)


@dataclass(frozen=True)
class _Pool(Operator):
    k: Any = attr(PAIR, doc="window size, or [kh, kw]")
    stride: Any = attr(PAIR, None, doc="defaults to the window size")
    pad: Any = attr(PAD, 0)
    ceil_mode: bool = attr(FLAG, False, doc="PyTorch's ceil_mode: keep a partial last window")

    def _strides(self) -> tuple[Value, Value]:
        return _pair(self.stride if self.stride is not None else self.k)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = _spatial(inputs[0], self.op_name)
        kh, kw = _pair(self.k)
        sh, sw = self._strides()
        for v, what in ((kh, "k"), (kw, "k"), (sh, "stride"), (sw, "stride")):
            _positive(v, what)
        ph, pw = _pads(self.pad)
        ho = _window_out(self.op_name, h, kh, sh, ph, self.ceil_mode, "height")
        wo = _window_out(self.op_name, w, kw, sw, pw, self.ceil_mode, "width")
        return (c, ho, wo)

    def _window(self) -> Value:
        kh, kw = _pair(self.k)
        return kh * kw


@register
@dataclass(frozen=True)
class MaxPool(_Pool):
    op_name: ClassVar[str] = "max_pool"

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * (self._window() - 1)  # comparisons


@register
@dataclass(frozen=True)
class AvgPool(_Pool):
    op_name: ClassVar[str] = "avg_pool"

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * self._window()  # adds and one divide per output


@register
@dataclass(frozen=True)
class GlobalAvgPool(Operator):
    op_name: ClassVar[str] = "global_avg_pool"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, _, _ = _spatial(inputs[0], self.op_name)
        return (c, 1, 1)

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(inputs[0])


def adaptive_bounds(size: Value, out: int) -> list[tuple[Value, Value]]:
    """PyTorch's adaptive pooling windows: [floor(i·size/out), ceil((i+1)·size/out))."""
    return [(intmath.floor_div(i * size, out), intmath.ceil_div((i + 1) * size, out)) for i in range(out)]


@register
@dataclass(frozen=True)
class AdaptiveAvgPool(Operator):
    """Average pooling to a fixed output size, whatever the input (torchvision's AlexNet head)."""

    op_name: ClassVar[str] = "adaptive_avg_pool"
    size: Any = attr(PAIR, doc="output size, or [h, w]")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, _, _ = _spatial(inputs[0], self.op_name)
        oh, ow = _pair(self.size)
        for v in (oh, ow):
            if not (intmath.is_number(v) and v == int(v) and v >= 1):
                raise ShapeError(f"size must be a positive integer constant, got {v}")
        return (c, oh, ow)

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        c, h, w = inputs[0]
        oh, ow = _pair(self.size)
        rows = sum((end - start for start, end in adaptive_bounds(h, int(oh))), 0)
        cols = sum((end - start for start, end in adaptive_bounds(w, int(ow))), 0)
        return c * rows * cols


def _merge_check(op: str, inputs: list[Shape], spatial_only: bool) -> None:
    first = inputs[0]
    for other in inputs[1:]:
        if len(other) != len(first):
            raise ShapeError(f"{op} inputs differ in rank: {_fmt(first)} and {_fmt(other)}")
        a, b = (first[1:], other[1:]) if spatial_only else (first, other)
        if _known(*a, *b) and tuple(a) != tuple(b):
            raise ShapeError(f"{op} inputs have mismatched shapes {_fmt(first)} and {_fmt(other)}")


@register
@dataclass(frozen=True)
class Concat(Operator):
    """Concatenation along channels (the fire module's merge)."""

    op_name: ClassVar[str] = "concat"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 64

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _merge_check("concat", inputs, spatial_only=True)
        channels = inputs[0][0]
        for shape in inputs[1:]:
            channels = channels + shape[0]
        return (channels, *inputs[0][1:])


@register
@dataclass(frozen=True)
class Mul(Operator):
    """Elementwise product; the second input may be a per-channel (C, 1, 1) gate (squeeze-excite)."""

    op_name: ClassVar[str] = "mul"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2

    def output_shape(self, inputs: list[Shape]) -> Shape:
        data, gate = inputs
        if len(gate) != len(data):
            raise ShapeError(f"mul inputs differ in rank: {_fmt(data)} and {_fmt(gate)}")
        for d, g in zip(data, gate, strict=True):
            if _known(d, g) and g != 1 and g != d:
                raise ShapeError(f"mul cannot broadcast {_fmt(gate)} onto {_fmt(data)}")
        return data

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output)


@register
@dataclass(frozen=True)
class Add(Operator):
    """Elementwise sum of equal shapes (residual connections)."""

    op_name: ClassVar[str] = "add"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 64

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _merge_check("add", inputs, spatial_only=False)
        return inputs[0]

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * (len(inputs) - 1)
