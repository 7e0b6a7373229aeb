"""Explicit padding of the spatial sides: Keras's ZeroPadding2D, PyTorch's ZeroPad2d and ConstantPad2d,
ONNX's Pad, and the asymmetric padding of a Conv that is not TensorFlow's 'same' (read as this layer
and the convolution after it, so that ``run`` computes what the file computes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel.intmath import Value
from costmodel.ops.base import (
    INDEX,
    NUMBER,
    Array,
    Layer,
    OnnxReader,
    OnnxWriter,
    ParameterFree,
    Shape,
    ShapeError,
    attr,
    ints,
    known,
    nonnegative,
    numpy,
    register,
    spatial,
)


@register
@dataclass(frozen=True)
class Pad(ParameterFree):
    """Rows and columns of a constant added around each channel; with ``axis`` 0, around each of the
    last axis's features of an (H, W, C) tensor (Swin v2's windows where the side is not a multiple).
    It only moves data: no weights, no products, no other ops; its output is a tensor of its own
    (activation memory counts it)."""

    op_name: ClassVar[str] = "pad"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Pad",)  # mode constant, on two adjacent axes
    shape_doc: ClassVar[str] = "C × (top + H + bottom) × (left + W + right)"

    top: Value = attr(INDEX, 0, doc="rows added above")
    bottom: Value = attr(INDEX, 0, doc="rows added below")
    left: Value = attr(INDEX, 0, doc="columns added on the left")
    right: Value = attr(INDEX, 0, doc="columns added on the right")
    value: Any = attr(NUMBER, 0, doc="the value added")
    axis: Value = attr(INDEX, 1, doc="the axis of the rows, the columns' next (1: the (C, H, W) sides)")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        spatial(shape, self.op_name)  # a tensor that is no image is an error
        if not known(self.axis) or int(self.axis) not in (0, 1):
            raise ShapeError(f"pad axis {self.axis}: 1 pads (C, H, W), 0 pads (H, W, C)")
        for name in ("top", "bottom", "left", "right"):
            nonnegative(getattr(self, name), f"pad {name}")
        axis = int(self.axis)
        rows, columns = shape[axis], shape[axis + 1]
        padded = [self.top + rows + self.bottom, self.left + columns + self.right]
        return (shape[0], *padded) if axis == 1 else (*padded, shape[2])

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = numpy()
        top, bottom, left, right = ints(self.top, self.bottom, self.left, self.right)
        widths = [(0, 0)] * 4
        axis = int(self.axis) + 1
        widths[axis], widths[axis + 1] = (top, bottom), (left, right)
        return np.pad(inputs[0], widths, mode="constant", constant_values=float(self.value)), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        top, bottom, left, right = ints(self.top, self.bottom, self.left, self.right)
        begin, end = [0] * 4, [0] * 4
        axis = int(self.axis) + 1
        begin[axis], begin[axis + 1], end[axis], end[axis + 1] = top, left, bottom, right
        pads = out.integers(node.name, "pads", begin + end)
        value = out.constant(node.name, "value", numpy().array(float(self.value)))
        out.emit("Pad", node.name, [*out.inputs(node), pads, value], mode="constant")

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        mode = node.attrs.get("mode", "constant")
        mode = str(mode)
        if mode != "constant":
            raise reader.fail(f"Pad in mode '{mode}' is not supported (only constant)", node.name)
        data = node.inputs[0]
        full = reader.shape(data, node)
        if len(full) != 4:
            raise reader.fail(f"Pad needs an [N, C, H, W] input, got shape {list(full)}", node.name)
        if reader.opset < 11:  # pads and value as attributes
            pads, value = [int(p) for p in node.attrs.get("pads", [])], float(node.attrs.get("value", 0.0))
        else:
            pads = [int(p) for p in reader.constant(node.inputs[1], node, "pads").reshape(-1)]
            given = len(node.inputs) > 2 and bool(node.inputs[2])
            value = float(reader.constant(node.inputs[2], node, "constant value").reshape(-1)[0]) if given else 0.0
            if len(node.inputs) > 3 and node.inputs[3]:  # opset 18: the axes the pads are for
                axes = [int(a) % 4 for a in reader.constant(node.inputs[3], node, "axes").reshape(-1)]
                full_pads = [0] * 8
                for i, axis in enumerate(axes):
                    full_pads[axis], full_pads[axis + 4] = pads[i], pads[i + len(axes)]
                pads = full_pads
        if len(pads) != 8:
            raise reader.fail(f"Pad of an image takes 8 pads (begin and end of 4 axes), got {pads}", node.name)
        if not any(pads):  # Swin pads its windows by nothing where they fit
            reader.alias(node.outputs[0], data, node)
            return
        if min(pads) < 0:
            raise reader.fail(f"Pad by negative amounts (a crop, {pads}) is not supported", node.name)
        if reader.is_channels_last(data):  # [N, H, W, C]: the pads of the layer's (C, H, W)
            pads = [pads[0], pads[3], pads[1], pads[2], pads[4], pads[7], pads[5], pads[6]]
        padded = {axis for axis in range(4) if pads[axis] or pads[axis + 4]}
        first = 2 if padded <= {2, 3} else 1  # the rows' axis: (C, H, W)'s sides, else (H, W, C)'s
        if reader.batch_axis(data) != 0 or not padded <= {first, first + 1}:
            raise reader.fail(
                f"Pad of {pads}: only the sides of an image (two adjacent axes after the batch)", node.name
            )
        top, left, bottom, right = pads[first], pads[first + 1], pads[first + 4], pads[first + 5]
        reader.add(
            node,
            cls.op_name,
            [data],
            top=top,
            bottom=bottom,
            left=left,
            right=right,
            value=value,
            axis=None if first == 2 else 0,
        )
