"""Fully-connected layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.intmath import Value
from costmodel.ops.base import (
    BIAS,
    CHANNELS,
    FLAG,
    WEIGHT,
    Array,
    Epilogue,
    Layer,
    OnnxReader,
    OnnxWriter,
    Operator,
    Shape,
    WeightArray,
    attr,
    positive,
    product,
    register,
)


@register
@dataclass(frozen=True)
class Linear(Operator):
    """Fully connected layer; a (C, H, W) input is flattened first, as Keras's Dense after Flatten."""

    op_name: ClassVar[str] = "linear"
    runs_activation: ClassVar[bool] = True
    takes_folded_norm: ClassVar[bool] = True
    flattens_input: ClassVar[bool] = True
    # A Flatten or flattening Reshape that only feeds one of these is part of the layer (the importer
    # absorbs it), and so is the Add of a 1-D constant after a MatMul (its bias).
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Gemm", "MatMul")
    shape_doc: ClassVar[str] = "out (the input is flattened)"
    params_doc: ClassVar[str] = "out·(C·H·W) (weight); out (bias, if `bias`)"
    macs_doc: ClassVar[str] = "out·(C·H·W)"
    other_ops_doc: ClassVar[str] = "out bias adds if `bias`"

    out: Value = attr(CHANNELS, doc="output features")
    bias: bool = attr(FLAG, True)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        positive(self.out, "out")
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

    def kernel(
        self, inputs: list[Array], weights: dict[str, Array], activation: Operator | None = None
    ) -> tuple[Array, int]:
        x = inputs[0]
        n = x.shape[0]
        flat = x.reshape(n, -1)
        w = weights["weight"]  # (out, features)
        y = flat @ w.T  # (N, F) x (F, out)
        Epilogue(weights.get("bias"), activation)(y, channel_axis=1)
        return y, n * flat.shape[1] * w.shape[0]

    def kernel_then(self, inputs: list[Array], weights: dict[str, Array], activation: Operator) -> tuple[Array, int]:
        return self.kernel(inputs, weights, activation)

    def type_label(self, inputs: list[Shape]) -> str:
        return "fc"

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        weights = out.weights(node)
        x = out.inputs(node)[0]
        if len(node.input_shapes[0]) != 1:
            x = out.emit("Flatten", f"{node.name}/flatten", [x], axis=1)
        out.emit("Gemm", node.name, [x, *weights], transB=1)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        if node.op_type == "Gemm":
            cls._from_gemm(node, reader)
        else:
            cls._from_matmul(node, reader)

    @classmethod
    def _from_gemm(cls, node: Any, reader: OnnxReader) -> None:
        if node.attrs.get("transA", 0):
            raise reader.fail("Gemm with transA = 1 is not supported", node.name)
        weight = reader.shape(node.inputs[1], node)
        if not reader.is_static(node.inputs[1]):
            raise reader.fail("Gemm of two activations is not a fully-connected layer", node.name)
        transposed = bool(node.attrs.get("transB", 0))
        out = weight[0] if transposed else weight[1]
        bias = len(node.inputs) > 2 and bool(node.inputs[2]) and node.attrs.get("beta", 1.0) != 0
        if bias:
            size = product(reader.shape(node.inputs[2], node))
            if size != out:
                raise reader.fail(f"Gemm bias of {size} values for {out} outputs is not supported", node.name)
        reader.stored(node, "weight", node.inputs[1], "" if transposed else "T", float(node.attrs.get("alpha", 1.0)))
        if bias:
            reader.stored(node, "bias", node.inputs[2], "flat", float(node.attrs.get("beta", 1.0)))
        reader.add(node, cls.op_name, [node.inputs[0]], out=int(out), bias=bias)

    @classmethod
    def _from_matmul(cls, node: Any, reader: OnnxReader) -> None:
        weight = reader.shape(node.inputs[1], node)
        if not reader.is_static(node.inputs[1]) or len(weight) != 2:
            raise reader.fail("only MatMul by a constant 2-D matrix (a fully-connected layer) is supported", node.name)
        over_channels = reader.is_channels_last(node.inputs[0])  # per position: a 1x1 convolution
        if len(reader.shape(node.inputs[0], node)) != 2 and not over_channels:
            raise reader.fail("MatMul of a tensor of rank other than 2 is not supported", node.name)
        out = int(weight[1])
        output = node.outputs[0]
        reader.stored(node, "weight", node.inputs[1], "T11" if over_channels else "T")
        bias = False
        add = reader.only_consumer(output)
        if add is not None and add.op_type == "Add":
            other = add.inputs[1] if add.inputs[0] == output else add.inputs[0]
            if reader.is_static(other) and reader.static_shape(other) == (out,):
                bias = True
                reader.absorb(add)
                output = add.outputs[0]
                reader.stored(node, "bias", other)
        if over_channels:
            reader.add(node, "conv2d", [node.inputs[0]], output, out=out, k=1, bias=bias)
            return
        reader.add(node, cls.op_name, [node.inputs[0]], output, out=out, bias=bias)
