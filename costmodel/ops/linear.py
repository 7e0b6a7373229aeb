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
from costmodel.ops.tokens import MatMul


@register
@dataclass(frozen=True)
class Linear(Operator):
    """Fully connected layer; a (C, H, W) input is flattened first, as Keras's Dense after Flatten. With
    ``flatten: false`` it maps the last axis at every position instead, as PyTorch's nn.Linear does to a
    transformer's (tokens, features)."""

    op_name: ClassVar[str] = "linear"
    runs_activation: ClassVar[bool] = True
    takes_folded_norm: ClassVar[bool] = True
    flattens_input: ClassVar[bool] = True
    # A Flatten or flattening Reshape that only feeds one of these is part of the layer (the importer
    # absorbs it), and so is the Add of a 1-D constant after a MatMul (its bias).
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Gemm", "MatMul")
    shape_doc: ClassVar[str] = "out (the input is flattened); without `flatten`: the input's, its last axis out"
    params_doc: ClassVar[str] = "out·F (weight); out (bias, if `bias`); F = C·H·W, or the last axis"
    macs_doc: ClassVar[str] = "out·(C·H·W); without `flatten`: N·F"
    other_ops_doc: ClassVar[str] = "N bias adds if `bias`"

    out: Value = attr(CHANNELS, doc="output features")
    bias: bool = attr(FLAG, True)
    flatten: bool = attr(FLAG, True, doc="false: map the last axis at every position")

    def features(self, shape: Shape) -> Value:
        """The values each output is computed from."""
        return product(shape) if self.flatten else shape[-1]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        positive(self.out, "out")
        return (self.out,) if self.flatten else (*inputs[0][:-1], self.out)

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        arrays = {"weight": WeightArray(WEIGHT, (self.out, self.features(inputs[0])))}
        if self.bias:
            arrays["bias"] = WeightArray(BIAS, (self.out,))
        return arrays

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * self.features(inputs[0])

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) if self.bias else 0

    def kernel(
        self, inputs: list[Array], weights: dict[str, Array], activation: Operator | None = None
    ) -> tuple[Array, int]:
        x = inputs[0]
        n = x.shape[0]
        flat = x.reshape(n, -1) if self.flatten else x.reshape(-1, x.shape[-1])
        w = weights["weight"]  # (out, features)
        y = flat @ w.T  # (N, F) x (F, out)
        Epilogue(weights.get("bias"), activation)(y, channel_axis=1)
        macs = flat.shape[0] * flat.shape[1] * w.shape[0]
        return (y if self.flatten else y.reshape(*x.shape[:-1], w.shape[0])), macs

    def kernel_then(self, inputs: list[Array], weights: dict[str, Array], activation: Operator) -> tuple[Array, int]:
        return self.kernel(inputs, weights, activation)

    def type_label(self, inputs: list[Shape]) -> str:
        return "fc"

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        x = out.inputs(node)[0]
        if not self.flatten and len(node.input_shapes[0]) > 1:  # MatMul by the weight, transposed, and the bias
            weights = out.weights(node, transposed=True)
            product_name = f"{node.name}/matmul" if self.bias else node.name
            y = out.emit("MatMul", node.name, [x, weights[0]], output=product_name)
            if self.bias:
                out.emit("Add", f"{node.name}/bias", [y, weights[1]], output=node.name)
            return
        weights = out.weights(node)
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
        tokens = len(reader.per_image(node.inputs[0], node)) > 1  # (tokens, features) of one image
        out = weight[0] if transposed else weight[1]
        bias = len(node.inputs) > 2 and bool(node.inputs[2]) and node.attrs.get("beta", 1.0) != 0
        if bias:
            size = product(reader.shape(node.inputs[2], node))
            if size != out:
                raise reader.fail(f"Gemm bias of {size} values for {out} outputs is not supported", node.name)
        reader.stored(node, "weight", node.inputs[1], "" if transposed else "T", float(node.attrs.get("alpha", 1.0)))
        if bias:
            reader.stored(node, "bias", node.inputs[2], "flat", float(node.attrs.get("beta", 1.0)))
        reader.add(node, cls.op_name, [node.inputs[0]], out=int(out), bias=bias, flatten=False if tokens else None)

    @classmethod
    def _from_matmul(cls, node: Any, reader: OnnxReader) -> None:
        if not reader.is_static(node.inputs[1]):
            MatMul.from_onnx(node, reader)
            return
        weight = reader.shape(node.inputs[1], node)
        if len(weight) != 2:
            raise reader.fail("MatMul by a constant of other than 2 axes is not supported", node.name)
        over_channels = reader.is_channels_last(node.inputs[0])  # per position: a 1x1 convolution
        shape = reader.shape(node.inputs[0], node)
        batch = reader.batch_axis(node.inputs[0])
        tokens = not over_channels and len(reader.per_image(node.inputs[0], node)) > 1
        if tokens and batch == len(shape) - 1:
            raise reader.fail("MatMul over the batch axis is not supported", node.name)
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
        flatten = False if tokens else None
        reader.add(node, cls.op_name, [node.inputs[0]], output, out=out, bias=bias, flatten=flatten)
