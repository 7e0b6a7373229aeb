"""Batch normalisation, and the one rule for folding it into the layer before it.

Counting (``--counting folded``), the executor's sessions and the folded ONNX export all fold with
:func:`fold` and the epsilon :data:`EPSILON`; which norms fold is :func:`costmodel.costs.foldable_norms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.intmath import Value
from costmodel.ops.base import (
    NORM_AFFINE,
    NORM_STATS,
    Array,
    Layer,
    OnnxReader,
    OnnxWriter,
    Operator,
    Shape,
    WeightArray,
    numpy,
    product,
    register,
)

EPSILON = 1e-5  # PyTorch's and ONNX's default
NORM_ARRAYS = ("gamma", "beta", "running_mean", "running_var")  # ONNX BatchNormalization's inputs, in order


def _scale64(arrays: dict[str, Array]) -> tuple[Array, Array, Array]:
    """The per-channel scale γ/√(var + ε), β and the running mean, in float64: the one place ε enters."""
    np = numpy()
    gamma, beta, mean, var = (np.asarray(arrays[name], dtype=np.float64) for name in NORM_ARRAYS)
    return gamma / np.sqrt(var + EPSILON), beta, mean


def scale_and_shift(arrays: dict[str, Array]) -> tuple[Array, Array]:
    """A batch norm at inference as y = x·scale + shift per channel (computed in float64, returned in
    the arrays' own type)."""
    dtype = arrays["gamma"].dtype
    scale, beta, mean = _scale64(arrays)
    return scale.astype(dtype), (beta - mean * scale).astype(dtype)


def fold(weight: Array, bias: Array | None, norm: dict[str, Array]) -> tuple[Array, Array]:
    """A conv's or linear layer's weight and bias with the batch norm after it folded in: the weight
    scaled per output channel, and a bias (new if it had none) scaled and shifted."""
    np = numpy()
    scale, beta, mean = _scale64(norm)
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
        scale, shift = scale_and_shift(weights)
        per_channel = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        y = np.multiply(x, scale.reshape(per_channel), out=x if overwrite else None)
        y += shift.reshape(per_channel)
        return y, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("BatchNormalization", node.name, [*out.inputs(node), *out.weights(node)], epsilon=EPSILON)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        for i, name in enumerate(NORM_ARRAYS):
            reader.stored(node, name, node.inputs[i + 1])
        reader.add(node, cls.op_name, [node.inputs[0]])
