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
    product,
    register,
)
from costmodel.ops.channels import ChannelShuffle


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
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Flatten", "Reshape")  # only flattening to [N, C·H·W]
    shape_doc: ClassVar[str] = "C·H·W"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (product(inputs[0]),)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        x = inputs[0]
        return x.reshape(x.shape[0], -1), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Flatten", node.name, out.inputs(node), axis=1)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        if not reader.is_flatten(node):
            if node.op_type == "Reshape" and ChannelShuffle.opens(node, reader):
                return  # the start of a channel shuffle: read with the Transpose after it
            if reader.shape_of(node.inputs[0]) is None or reader.shape_of(node.outputs[0]) is None:
                raise reader.fail(f"ONNX shape inference gives no static shape around this {node.op_type}", node.name)
            if node.op_type == "Flatten":
                raise reader.fail(
                    f"Flatten with axis {node.attrs.get('axis', 1)} is not supported (only axis 1)", node.name
                )
            target = reader.shape_of(node.outputs[0])
            raise reader.fail(
                f"Reshape to {list(target) if target else 'an unknown shape'} is not supported "
                "(only flattening to [N, C·H·W])",
                node.name,
            )
        reader.add(node, cls.op_name, [node.inputs[0]])
