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
    attr,
    ints,
    nonnegative,
    numpy,
    register,
    spatial,
)


@register
@dataclass(frozen=True)
class Pad(ParameterFree):
    """Rows and columns of a constant added around each channel. It only moves data: no weights, no
    products, no other ops; its output is a tensor of its own (activation memory counts it)."""

    op_name: ClassVar[str] = "pad"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Pad",)  # mode constant, on the spatial axes
    shape_doc: ClassVar[str] = "C × (top + H + bottom) × (left + W + right)"

    top: Value = attr(INDEX, 0, doc="rows added above")
    bottom: Value = attr(INDEX, 0, doc="rows added below")
    left: Value = attr(INDEX, 0, doc="columns added on the left")
    right: Value = attr(INDEX, 0, doc="columns added on the right")
    value: Any = attr(NUMBER, 0, doc="the value added")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = spatial(inputs[0], self.op_name)
        for name in ("top", "bottom", "left", "right"):
            nonnegative(getattr(self, name), f"pad {name}")
        return (c, self.top + h + self.bottom, self.left + w + self.right)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = numpy()
        top, bottom, left, right = ints(self.top, self.bottom, self.left, self.right)
        widths = ((0, 0), (0, 0), (top, bottom), (left, right))
        return np.pad(inputs[0], widths, mode="constant", constant_values=float(self.value)), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        top, bottom, left, right = ints(self.top, self.bottom, self.left, self.right)
        pads = out.integers(node.name, "pads", [0, 0, top, left, 0, 0, bottom, right])
        value = out.constant(node.name, "value", numpy().array(float(self.value)))
        out.emit("Pad", node.name, [*out.inputs(node), pads, value], mode="constant")

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        mode = node.attrs.get("mode", "constant")
        mode = str(mode)
        if mode != "constant":
            raise reader.fail(f"Pad in mode '{mode}' is not supported (only constant)", node.name)
        reader.spatial(node, node.inputs[0])
        if reader.batch_axis(node.inputs[0]) != 0:
            raise reader.fail("Pad of a tensor whose batch axis moved is not supported", node.name)
        if reader.opset < 11:  # pads and value as attributes
            pads, value = [int(p) for p in node.attrs.get("pads", [])], float(node.attrs.get("value", 0.0))
        else:
            pads = [int(p) for p in reader.constant(node.inputs[1], node, "pads").reshape(-1)]
            given = len(node.inputs) > 2 and bool(node.inputs[2])
            value = float(reader.constant(node.inputs[2], node, "constant value").reshape(-1)[0]) if given else 0.0
            if len(node.inputs) > 3 and node.inputs[3]:  # opset 18: the axes the pads are for
                axes = [int(a) % 4 for a in reader.constant(node.inputs[3], node, "axes").reshape(-1)]
                full = [0] * 8
                for i, axis in enumerate(axes):
                    full[axis], full[axis + 4] = pads[i], pads[i + len(axes)]
                pads = full
        if len(pads) != 8:
            raise reader.fail(f"Pad of an image takes 8 pads (begin and end of 4 axes), got {pads}", node.name)
        if not any(pads):  # Swin pads its windows by nothing where they fit
            reader.alias(node.outputs[0], node.inputs[0], node)
            return
        if reader.is_channels_last(node.inputs[0]):  # [N, H, W, C]: the pads of the layer's (C, H, W)
            pads = [pads[0], pads[3], pads[1], pads[2], pads[4], pads[7], pads[5], pads[6]]
        if any(pads[i] for i in (0, 1, 4, 5)):
            raise reader.fail(f"Pad of the batch or the channels ({pads}) is not supported", node.name)
        if min(pads) < 0:
            raise reader.fail(f"Pad by negative amounts (a crop, {pads}) is not supported", node.name)
        top, left, bottom, right = pads[2], pads[3], pads[6], pads[7]
        reader.add(node, cls.op_name, [node.inputs[0]], top=top, bottom=bottom, left=left, right=right, value=value)
