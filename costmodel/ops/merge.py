"""Merges of several inputs: concatenation, elementwise product (gates) and sum (residuals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.intmath import Value
from costmodel.ops.base import (
    Array,
    Layer,
    OnnxReader,
    OnnxWriter,
    ParameterFree,
    Shape,
    ShapeError,
    known,
    numpy,
    product,
    register,
    show_shape,
)
from costmodel.ops.misc import Dropout
from costmodel.ops.norm import Scale


def _merge_check(op: str, inputs: list[Shape], spatial_only: bool) -> None:
    first = inputs[0]
    for other in inputs[1:]:
        if len(other) != len(first):
            raise ShapeError(f"{op} inputs differ in rank: {show_shape(first)} and {show_shape(other)}")
        a, b = (first[1:], other[1:]) if spatial_only else (first, other)
        if known(*a, *b) and tuple(a) != tuple(b):
            raise ShapeError(f"{op} inputs have mismatched shapes {show_shape(first)} and {show_shape(other)}")


@register
@dataclass(frozen=True)
class Concat(ParameterFree):
    """Concatenation along channels (the fire module's merge); of one input, the identity (as ONNX's
    Concat, which exporters write so: DenseNet's first layer of each block)."""

    op_name: ClassVar[str] = "concat"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Concat",)  # along channels
    shape_doc: ClassVar[str] = "ΣC × H × W"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 64

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _merge_check("concat", inputs, spatial_only=True)
        channels = inputs[0][0]
        for shape in inputs[1:]:
            channels = channels + shape[0]
        return (channels, *inputs[0][1:])

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return numpy().concatenate(inputs, axis=1), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Concat", node.name, out.inputs(node), axis=1)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        rank = len(reader.shape(node.outputs[0], node))
        axis = node.attrs.get("axis")
        if axis is None or axis % rank != 1:
            raise reader.fail(f"Concat along axis {axis} is not supported (only channels, axis 1)", node.name)
        if len(reader.activation_inputs(node)) != len(node.inputs):
            raise reader.fail("Concat with a constant operand is not supported", node.name)
        reader.add(node, cls.op_name, list(node.inputs))


@register
@dataclass(frozen=True)
class Mul(ParameterFree):
    """Elementwise product; the second input may be a per-channel (C, 1, 1) gate (squeeze-excite)."""

    op_name: ClassVar[str] = "mul"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Mul",)  # of two activations
    shape_doc: ClassVar[str] = "the first input's shape (the second: each dimension 1 or equal)"
    other_ops_doc: ClassVar[str] = "N"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2

    def output_shape(self, inputs: list[Shape]) -> Shape:
        data, gate = inputs
        if len(gate) != len(data):
            raise ShapeError(f"mul inputs differ in rank: {show_shape(data)} and {show_shape(gate)}")
        for d, g in zip(data, gate, strict=True):
            if known(d, g) and g != 1 and g != d:
                raise ShapeError(f"mul cannot broadcast {show_shape(gate)} onto {show_shape(data)}")
        return data

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """An elementwise scaling (the gate broadcasts), not a product of operands: no MACs."""
        return inputs[0] * inputs[1], 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Mul", node.name, out.inputs(node))

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        data = reader.activation_inputs(node)
        if len(data) == 1 and len(node.inputs) == 2:  # by a constant: a learned scale per channel
            weight = node.inputs[1] if node.inputs[0] == data[0] else node.inputs[0]
            c = reader.spatial(node, data[0])[0] if len(reader.shape(data[0], node)) == 4 else None
            shape = tuple(int(d) for d in reader.shape(weight, node))
            per_channel = (
                {(c, 1, 1), (1, c, 1, 1)} if not reader.is_channels_last(data[0]) else {(c,), (1, 1, c), (1, 1, 1, c)}
            )
            if c is None or shape not in per_channel:
                raise reader.fail(
                    f"Mul by a constant of shape {list(shape)} is not supported (only one value per channel)", node.name
                )
            reader.stored(node, "weight", weight, "flat")
            reader.add(node, Scale.op_name, data)
            return
        inputs = _activations_only(node, reader)
        inputs.sort(key=lambda t: -product(reader.shape_of(t) or (0,)))  # (data, gate): the larger first
        reader.add(node, cls.op_name, inputs)


@register
@dataclass(frozen=True)
class Add(ParameterFree):
    """Elementwise sum of equal shapes (residual connections)."""

    op_name: ClassVar[str] = "add"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Add", "Sum")  # of activations; a one-input Sum is an identity
    other_ops_doc: ClassVar[str] = "(n − 1)·N"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 64

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _merge_check("add", inputs, spatial_only=False)
        return inputs[0]

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * (len(inputs) - 1)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        y = inputs[0] + inputs[1]
        for other in inputs[2:]:
            y += other
        return y, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        inputs = out.inputs(node)
        out.emit("Add" if len(inputs) == 2 else "Sum", node.name, inputs)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        if node.op_type == "Sum" and len(node.inputs) == 1:
            reader.add(node, Dropout.op_name, node.inputs, p=0)
            return
        reader.add(node, cls.op_name, _activations_only(node, reader))


def _activations_only(node: Any, reader: OnnxReader) -> list[str]:
    inputs = reader.activation_inputs(node)
    if len(inputs) != len(node.inputs):
        raise reader.fail(f"{node.op_type} with a constant operand is not supported", node.name)
    return inputs
