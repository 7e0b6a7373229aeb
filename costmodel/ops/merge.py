"""Merges of several inputs: concatenation, elementwise product (gates) and sum (residuals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.intmath import Value
from costmodel.ops.base import (
    INDEX,
    Array,
    Layer,
    OnnxReader,
    OnnxWriter,
    ParameterFree,
    Shape,
    ShapeError,
    attr,
    axis_of,
    known,
    numpy,
    product,
    register,
    show_shape,
)
from costmodel.ops.misc import Dropout
from costmodel.ops.norm import Scale
from costmodel.ops.tokens import ClassToken, MulConstant, PositionEmbedding, ScaleBy


def _merge_check(op: str, inputs: list[Shape]) -> None:
    first = inputs[0]
    for other in inputs[1:]:
        if len(other) != len(first):
            raise ShapeError(f"{op} inputs differ in rank: {show_shape(first)} and {show_shape(other)}")
        if known(*first, *other) and tuple(first) != tuple(other):
            raise ShapeError(f"{op} inputs have mismatched shapes {show_shape(first)} and {show_shape(other)}")


@register
@dataclass(frozen=True)
class Concat(ParameterFree):
    """Concatenation along channels (the fire module's merge), or along another ``axis``; of one input,
    the identity (as ONNX's Concat, which exporters write so: DenseNet's first layer of each block)."""

    op_name: ClassVar[str] = "concat"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Concat",)
    shape_doc: ClassVar[str] = "ΣC × H × W (the sizes along `axis` summed)"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 64

    axis: Value = attr(INDEX, 0, doc="the axis joined along (0: the channels)")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        first = inputs[0]
        axis = axis_of(self.axis, first, "concat")
        for other in inputs[1:]:
            if len(other) != len(first):
                raise ShapeError(f"concat inputs differ in rank: {show_shape(first)} and {show_shape(other)}")
            rest = [(a, b) for i, (a, b) in enumerate(zip(first, other, strict=True)) if i != axis]
            if any(known(a, b) and a != b for a, b in rest):
                raise ShapeError(f"concat inputs have mismatched shapes {show_shape(first)} and {show_shape(other)}")
        joined = first[axis]
        for shape in inputs[1:]:
            joined = joined + shape[axis]
        return (*first[:axis], joined, *first[axis + 1 :])

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return numpy().concatenate(inputs, axis=int(self.axis) + 1), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("Concat", node.name, out.inputs(node), axis=int(self.axis) + 1)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        given = node.attrs.get("axis")
        data = reader.activation_inputs(node)
        if given is None:
            raise reader.fail("Concat without an axis", node.name)
        axis = reader.image_axis(data[0], int(given), node)
        if len(data) != len(node.inputs):
            ClassToken.read(node, reader, axis)
            return
        reader.add(node, cls.op_name, list(node.inputs), axis=axis or None)


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
            given = reader.static_shape(weight)
            if given is not None and len(given) <= 1 and product(given) == 1:  # one number, not learned
                ScaleBy.read(node, reader, float(reader.constant(weight, node, "factor").reshape(-1)[0]))
                return
            image = len(reader.shape(data[0], node)) == 4 and reader.batch_axis(data[0]) == 0
            c = reader.spatial(node, data[0])[0] if image else None
            shape = tuple(int(d) for d in reader.shape(weight, node))
            per_channel = (
                {(c, 1, 1), (1, c, 1, 1)} if not reader.is_channels_last(data[0]) else {(c,), (1, 1, c), (1, 1, 1, c)}
            )
            if c is None or shape not in per_channel or not reader.is_learned(weight):
                MulConstant.read(node, reader)
                return
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
        _merge_check("add", inputs)
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
        if len(reader.activation_inputs(node)) == 1 and len(node.inputs) == 2:
            PositionEmbedding.read(node, reader)
            return
        reader.add(node, cls.op_name, _activations_only(node, reader))


def _activations_only(node: Any, reader: OnnxReader) -> list[str]:
    inputs = reader.activation_inputs(node)
    if len(inputs) != len(node.inputs):
        raise reader.fail(f"{node.op_type} with a constant operand is not supported", node.name)
    return inputs
