"""Operators that only move data: dropout (the identity at inference) and flatten."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.ops.base import (
    NUMBER,
    Array,
    Elementwise,
    Layer,
    OnnxReader,
    OnnxWriter,
    ParameterFree,
    Shape,
    attr,
    numpy,
    product,
    register,
)
from costmodel.ops.channels import ChannelShuffle
from costmodel.ops.tokens import Reshape


@register
@dataclass(frozen=True)
class Dropout(Elementwise):
    """Identity at inference; kept so layer lists read like the reference implementation."""

    op_name: ClassVar[str] = "dropout"
    passes_input: ClassVar[bool] = True
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Dropout", "Identity")

    p: Any = attr(NUMBER, 0.5, note="any number")

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return inputs[0], 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Identity", node.name, out.inputs(node))

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        if node.op_type == "Identity":
            ratio = 0.0
        elif len(node.inputs) > 1 and node.inputs[1]:
            ratio = float(reader.constant(node.inputs[1], node, "ratio").reshape(-1)[0])
        else:
            ratio = float(node.attrs.get("ratio", 0.5))
        reader.add(node, cls.op_name, [node.inputs[0]], p=ratio)


@register
@dataclass(frozen=True)
class Flatten(ParameterFree):
    op_name: ClassVar[str] = "flatten"
    # flattening to [N, C·H·W]; any other Reshape or Flatten is read as a reshape
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Flatten", "Reshape")
    shape_doc: ClassVar[str] = "C·H·W"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (product(inputs[0]),)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """A copy, as a reshape's: a view would let an in-place kernel after it write over the input,
        which another layer may still read."""
        x = inputs[0]
        return x.reshape(x.shape[0], -1).copy(), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Flatten", node.name, out.inputs(node), axis=1)

    @classmethod
    def claims(cls, node: Any, reader: OnnxReader) -> tuple[str, list[Any], Any] | None:
        """A Reshape whose only reader is a Gather that takes every element back in order into the
        Reshape's input shape (PyTorch's dynamo exporter lowers an ``as_strided`` view so, after
        ConvNeXt's average pool): (its input, [the Gather], the Gather), both then no layer at all."""
        if node.op_type != "Reshape":
            return None
        gather = reader.only_consumer(node.outputs[0])
        if gather is None or gather.op_type != "Gather" or gather.inputs[0] != node.outputs[0]:
            return None
        source, flat, result = (reader.shape_of(t) for t in (node.inputs[0], node.outputs[0], gather.outputs[0]))
        if source is None or flat is None or result is None or len(flat) != 1 or tuple(result) != tuple(source):
            return None
        if int(gather.attrs.get("axis", 0)) != 0 or len(gather.inputs) < 2 or not reader.is_static(gather.inputs[1]):
            return None
        indices = reader.constant(gather.inputs[1], gather, "indices").reshape(-1)
        np = numpy()
        if not np.array_equal(indices, np.arange(flat[0])):
            return None
        return node.inputs[0], [gather], gather

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        undone = reader.claimed(node)
        if undone is not None:
            reader.alias(undone[2].outputs[0], node.inputs[0], node)
            return
        if not reader.is_flatten(node):
            if node.op_type == "Reshape" and ChannelShuffle.opens(node, reader):
                return  # the start of a channel shuffle: read with the Transpose after it
            if reader.shape_of(node.inputs[0]) is None or reader.shape_of(node.outputs[0]) is None:
                raise reader.fail(f"ONNX shape inference gives no static shape around this {node.op_type}", node.name)
            Reshape.from_onnx(node, reader)
            return
        reader.add(node, cls.op_name, [node.inputs[0]])
