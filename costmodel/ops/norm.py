"""Normalisation: batch norm (and the one rule for folding it into the layer before it), layer norm over
the channels at each position, and a learned per-channel scale (ConvNeXt's layer scale).

Counting (``--counting folded``), the executor's sessions and the folded ONNX export all fold with
:func:`fold` and the norm's epsilon (:data:`EPSILON` unless the spec or file says another); which norms
fold is :func:`costmodel.costs.foldable_norms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.intmath import Value
from costmodel.ops.base import (
    INDEX,
    NORM_AFFINE,
    NORM_STATS,
    NUMBER,
    WEIGHT,
    Array,
    Layer,
    OnnxReader,
    OnnxWriter,
    Operator,
    Shape,
    ShapeError,
    WeightArray,
    attr,
    known,
    numpy,
    product,
    register,
    show_shape,
)

EPSILON = 1e-5  # PyTorch's and ONNX's default
NORM_ARRAYS = ("gamma", "beta", "running_mean", "running_var")  # ONNX BatchNormalization's inputs, in order


def _scale64(arrays: dict[str, Array], eps: float) -> tuple[Array, Array, Array]:
    """The per-channel scale γ/√(var + ε), β and the running mean, in float64: the one place ε enters."""
    np = numpy()
    gamma, beta, mean, var = (np.asarray(arrays[name], dtype=np.float64) for name in NORM_ARRAYS)
    return gamma / np.sqrt(var + eps), beta, mean


def scale_and_shift(arrays: dict[str, Array], eps: float = EPSILON) -> tuple[Array, Array]:
    """A batch norm at inference as y = x·scale + shift per channel (computed in float64, returned in
    the arrays' own type)."""
    dtype = arrays["gamma"].dtype
    scale, beta, mean = _scale64(arrays, eps)
    return scale.astype(dtype), (beta - mean * scale).astype(dtype)


def fold(weight: Array, bias: Array | None, norm: dict[str, Array], eps: float = EPSILON) -> tuple[Array, Array]:
    """A conv's or linear layer's weight and bias with the batch norm after it folded in: the weight
    scaled per output channel, and a bias (new if it had none) scaled and shifted."""
    np = numpy()
    scale, beta, mean = _scale64(norm, eps)
    folded_weight = weight.astype(np.float64) * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    base = bias.astype(np.float64) if bias is not None else np.zeros_like(mean)
    folded_bias = (base - mean) * scale + beta
    return folded_weight.astype(weight.dtype), folded_bias.astype(weight.dtype)


@register
@dataclass(frozen=True)
class BatchNorm(Operator):
    """Batch normalisation over channels: γ, β learned; running mean and variance stored."""

    op_name: ClassVar[str] = "batchnorm"
    other_ops_per_element: ClassVar[int] = 2  # one multiply and one add per element at inference
    in_place: ClassVar[bool] = True
    folds_into_host: ClassVar[bool] = True
    onnx_types: ClassVar[tuple[str, ...] | None] = ("BatchNormalization",)
    params_doc: ClassVar[str] = "γ, β: C each (norm_affine); running mean, variance: C each (norm_stats)"
    other_ops_doc: ClassVar[str] = "2·N"

    eps: Any = attr(NUMBER, EPSILON, doc="added to the variance (MaxViT, EfficientNet's Keras: 1e-3)")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return 0  # a per-channel scale and shift: elementwise, counted under other ops

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return self.other_ops_per_element * product(output)

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        c = (inputs[0][0],)
        return {
            "gamma": WeightArray(NORM_AFFINE, c),
            "beta": WeightArray(NORM_AFFINE, c),
            "running_mean": WeightArray(NORM_STATS, c),
            "running_var": WeightArray(NORM_STATS, c),
        }

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Inference: (x - running_mean) / sqrt(running_var + eps) · gamma + beta, per channel."""
        return self.kernel_in_place(inputs, weights, overwrite=False)

    def kernel_in_place(self, inputs: list[Array], weights: dict[str, Array], overwrite: bool) -> tuple[Array, int]:
        np = numpy()
        x = inputs[0]
        scale, shift = scale_and_shift(weights, float(self.eps))
        per_channel = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        y = np.multiply(x, scale.reshape(per_channel), out=x if overwrite else None)
        y += shift.reshape(per_channel)
        return y, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("BatchNormalization", node.name, [*out.inputs(node), *out.weights(node)], epsilon=float(self.eps))

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        for i, name in enumerate(NORM_ARRAYS):
            reader.stored(node, name, node.inputs[i + 1])
        eps = float(node.attrs.get("epsilon", EPSILON))
        reader.add(node, cls.op_name, [node.inputs[0]], eps=eps if eps != EPSILON else None)


@register
@dataclass(frozen=True)
class LayerNorm(Operator):
    """Layer normalisation over the channels at each position (ConvNeXt's LayerNorm2d; over the features
    of a vector), or over another ``axis`` (a transformer's tokens: their last, the features):
    (x − mean) / √(var + eps) · γ + β, mean and variance across that axis."""

    op_name: ClassVar[str] = "layernorm"
    other_ops_per_element: ClassVar[int] = 7  # mean (add), variance (subtract, square, add), divide, scale, shift
    # as files write it: a Transpose to channels last, LayerNormalization over the last axis, and back
    onnx_types: ClassVar[tuple[str, ...] | None] = ("LayerNormalization",)
    params_doc: ClassVar[str] = "γ, β: C each (norm_affine)"
    other_ops_doc: ClassVar[str] = "7·N"

    eps: Any = attr(NUMBER, 1e-5, doc="added to the variance (ConvNeXt: 1e-6)")
    axis: Value = attr(INDEX, 0, doc="the axis normalised: 0 (the channels) or the last")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        if not known(self.axis) or int(self.axis) not in (0, len(shape) - 1):
            raise ShapeError(
                f"layernorm axis {self.axis} of {show_shape(shape)}: only 0 (the channels) or the last axis"
            )
        return shape

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return 0

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return self.other_ops_per_element * product(output)

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        c = (inputs[0][int(self.axis)],)
        return {"gamma": WeightArray(NORM_AFFINE, c), "beta": WeightArray(NORM_AFFINE, c)}

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = numpy()
        x = inputs[0].astype(np.float64)
        axis = int(self.axis) + 1
        per_channel = [1] * x.ndim
        per_channel[axis] = -1
        centred = x - x.mean(axis=axis, keepdims=True)
        y = centred / np.sqrt((centred * centred).mean(axis=axis, keepdims=True) + float(self.eps))
        y = y * weights["gamma"].reshape(per_channel) + weights["beta"].reshape(per_channel)
        return y.astype(inputs[0].dtype), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        x = out.inputs(node)[0]
        weights = out.weights(node)
        if int(self.axis) == len(node.input_shapes[0]) - 1:
            out.emit("LayerNormalization", node.name, [x, *weights], axis=-1, epsilon=float(self.eps))
            return
        rank = len(node.input_shapes[0])  # the channels (axis 1 with the batch) moved last, and back
        last = out.emit("Transpose", f"{node.name}/to_channels_last", [x], perm=[0, *range(2, rank + 1), 1])
        normed = out.emit(
            "LayerNormalization",
            f"{node.name}/norm",
            [last, *weights],
            output=f"{node.name}/norm",
            axis=-1,
            epsilon=float(self.eps),
        )
        out.emit("Transpose", node.name, [normed], perm=[0, rank, *range(1, rank)])

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        data = node.inputs[0]
        rank = len(reader.shape(data, node))
        axis = int(node.attrs.get("axis", -1)) % rank if rank else 0
        over_channels = reader.is_channels_last(data) and axis == 3
        batch = reader.batch_axis(data)
        if not (over_channels or (axis == rank - 1 and batch != axis)):
            raise reader.fail(
                f"LayerNormalization over axis {node.attrs.get('axis', -1)} of a rank-{rank} tensor is not supported "
                "(only over the last axis: channels last, or features)",
                node.name,
            )
        last = 0 if over_channels else len(reader.per_image(data, node)) - 1
        if len(node.inputs) < 3 or not node.inputs[2]:
            raise reader.fail("LayerNormalization without a bias B is not supported", node.name)
        reader.stored(node, "gamma", node.inputs[1], "flat")
        reader.stored(node, "beta", node.inputs[2], "flat")
        reader.add(node, cls.op_name, [data], eps=float(node.attrs.get("epsilon", 1e-5)), axis=last or None)


@register
@dataclass(frozen=True)
class Scale(Operator):
    """A learned multiplier per channel (ConvNeXt's layer scale): x · w, w of C values."""

    op_name: ClassVar[str] = "scale"
    other_ops_per_element: ClassVar[int] = 1
    onnx_types: ClassVar[tuple[str, ...] | None] = ()  # read by Mul, from a Mul by a (C, 1, 1) constant
    params_doc: ClassVar[str] = "C (weight)"
    other_ops_doc: ClassVar[str] = "N"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return 0  # one multiply per element, no accumulation: counted under other ops

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output)

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        return {"weight": WeightArray(WEIGHT, (inputs[0][0],))}

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        x = inputs[0]
        return x * weights["weight"].reshape((1, x.shape[1]) + (1,) * (x.ndim - 2)), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        """Mul by the weight reshaped to (C, 1, 1): the importer reads that Mul back as this layer."""
        c = int(node.input_shapes[0][0])
        shape = out.integers(node.name, "shape", [c] + [1] * (len(node.input_shapes[0]) - 1))
        weight = out.emit("Reshape", f"{node.name}/per_channel", [out.weights(node)[0], shape])
        out.emit("Mul", node.name, [out.inputs(node)[0], weight])
