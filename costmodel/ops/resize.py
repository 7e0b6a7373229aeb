"""Resizing the spatial sides: nearest-neighbour and bilinear upsampling (F.interpolate, Keras's
UpSampling2D, ONNX's Resize), as segmentation heads on a MobileNet (LR-ASPP, DeepLab v3) use it.

The sampling positions are ONNX's: an output pixel o of an axis scaled by s reads the input at
o / s (``asymmetric``, PyTorch's nearest), (o + 1/2) / s - 1/2 (``half_pixel``, bilinear with
align_corners=False) or o · (in - 1) / (out - 1) (``align_corners``). The scale s is the one given, or
out / in where the output size is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

from costmodel import intmath
from costmodel.intmath import Value
from costmodel.ops.base import (
    FLAG,
    NUMBER,
    PAIR,
    Array,
    Layer,
    OnnxReader,
    OnnxWriter,
    ParameterFree,
    Shape,
    ShapeError,
    attr,
    ints,
    numpy,
    pair,
    product,
    register,
    spatial,
)

# ONNX coordinate transformations read, and what each is here (PyTorch's half pixel differs only for an
# output side of 1, which takes the first pixel instead of the centre)
_MODES = {"asymmetric", "half_pixel", "pytorch_half_pixel", "align_corners"}
BILINEAR_OPS = 7  # per output value: four neighbours weighted (4 multiplies) and summed (3 adds)


@register
@dataclass(frozen=True)
class Resize(ParameterFree):
    """Each channel resized by ``scale`` (output side floor(side · scale)) or to ``size``; nearest
    neighbour (the pixel at or before the sampling position) or bilinear."""

    op_name: ClassVar[str] = "resize"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Resize", "Upsample")
    shape_doc: ClassVar[str] = "C × floor(H·scale) × floor(W·scale), or C × h × w"
    other_ops_doc: ClassVar[str] = f"nearest 0; bilinear {BILINEAR_OPS} per output value"

    scale: Any = attr(NUMBER, None, doc="factor of both sides (2: twice as large)", shown="—")
    size: Any = attr(PAIR, None, doc="output size, or [h, w], instead of a scale", shown="—")
    bilinear: bool = attr(FLAG, False, doc="bilinear instead of nearest neighbour")
    align_corners: bool = attr(FLAG, False, doc="bilinear: corners on corners (else pixel centres)")
    pytorch_half_pixel: bool = attr(FLAG, False, doc="bilinear: an output side of 1 reads the first pixel")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = spatial(inputs[0], self.op_name)
        if (self.scale is None) == (self.size is None):
            raise ShapeError("resize takes a scale or a size (one of them)")
        if self.size is not None:
            oh, ow = pair(self.size)
            return (c, oh, ow)
        if intmath.is_number(self.scale) and self.scale <= 0:
            raise ShapeError(f"resize scale must be positive, got {self.scale}")
        oh, ow = (intmath.floor_value(side * self.scale) for side in (h, w))
        if intmath.is_number(oh) and min(oh, ow) < 1:
            raise ShapeError(f"input {h}×{w} is too small for a resize by {self.scale}: no output pixel")
        return (c, oh, ow)

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return BILINEAR_OPS * product(output) if self.bilinear else 0

    def coordinates(self) -> str:
        """The ONNX coordinate_transformation_mode this resize samples by."""
        if not self.bilinear:
            return "asymmetric"
        if self.align_corners:
            return "align_corners"
        return "pytorch_half_pixel" if self.pytorch_half_pixel else "half_pixel"

    def positions(self, size: int, out: int) -> list[Fraction]:
        """Where each output pixel of an axis samples its input, exactly."""
        scale = Fraction(out, size) if self.scale is None else Fraction(self.scale)
        if not self.bilinear:
            return [Fraction(o) / scale for o in range(out)]
        if self.align_corners:
            return [Fraction(o * (size - 1), out - 1) if out > 1 else Fraction(0) for o in range(out)]
        if self.pytorch_half_pixel and out == 1:
            return [Fraction(0)]
        return [(o + Fraction(1, 2)) / scale - Fraction(1, 2) for o in range(out)]

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Nearest: the input rows and columns gathered. Bilinear: rows, then columns, each a weighted
        sum of two neighbours (float64), the positions clamped to the input as ONNX does."""
        np = numpy()
        x = inputs[0]
        _, _, h, w = x.shape
        _, oh, ow = ints(*self.output_shape([(x.shape[1], h, w)]))
        if not self.bilinear:
            rows = [min(math.floor(p), h - 1) for p in self.positions(h, oh)]
            cols = [min(math.floor(p), w - 1) for p in self.positions(w, ow)]
            return np.ascontiguousarray(x[:, :, rows][:, :, :, cols]), 0
        y = x.astype(np.float64)
        for axis, size, out in ((2, h, oh), (3, w, ow)):
            spots = [min(max(p, Fraction(0)), Fraction(size - 1)) for p in self.positions(size, out)]
            low = np.array([math.floor(p) for p in spots])
            high = np.minimum(low + 1, size - 1)
            share = np.array([float(p - math.floor(p)) for p in spots])
            shape = [1, 1, 1, 1]
            shape[axis] = out
            share = share.reshape(shape)
            y = np.take(y, low, axis=axis) * (1 - share) + np.take(y, high, axis=axis) * share
        return y.astype(x.dtype), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        """Resize at opset 17: the scales for a scale, else the sizes (the batch and channels from the
        input's Shape, so that any batch runs)."""
        np = numpy()
        x = out.inputs(node)[0]
        attrs: dict[str, Any] = {"coordinate_transformation_mode": self.coordinates()}
        attrs.update({"mode": "linear"} if self.bilinear else {"mode": "nearest", "nearest_mode": "floor"})
        if self.size is None:
            scale = float(self.scale)
            scales = out.constant(node.name, "scales", np.array([1, 1, scale, scale]))
            out.emit("Resize", node.name, [x, "", scales], **attrs)
            return
        oh, ow = ints(*pair(self.size))
        shape = out.emit("Shape", f"{node.name}/shape", [x], end=2)
        sizes = out.emit("Concat", f"{node.name}/sizes", [shape, out.integers(node.name, "size", [oh, ow])], axis=0)
        out.emit("Resize", node.name, [x, "", "", sizes], **attrs)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        early = node.op_type == "Upsample" or reader.opset < 11  # sampling at o / s, nearest rounding down
        mode = str(node.attrs.get("mode", "nearest"))
        how = str(node.attrs.get("coordinate_transformation_mode", "asymmetric" if early else "half_pixel"))
        nearest = str(node.attrs.get("nearest_mode", "floor" if early else "round_prefer_floor"))
        if mode not in ("nearest", "linear"):
            raise reader.fail(f"Resize in mode '{mode}' is not supported (only nearest and linear)", node.name)
        if how not in _MODES or (mode == "nearest" and (how != "asymmetric" or nearest != "floor")):
            wanted = "nearest with asymmetric / floor (PyTorch's)" if mode == "nearest" else "linear with half_pixel"
            raise reader.fail(
                f"Resize {mode} with coordinate_transformation_mode '{how}'"
                + (f" and nearest_mode '{nearest}'" if mode == "nearest" else "")
                + f" is not supported (only {wanted}, pytorch_half_pixel or align_corners)",
                node.name,
            )
        for name in ("antialias", "exclude_outside"):
            if int(node.attrs.get(name, 0)):
                raise reader.fail(f"Resize with {name} is not supported", node.name)
        if node.attrs.get("axes") is not None:
            raise reader.fail("Resize over some axes (axes) is not supported", node.name)
        c, h, w = reader.spatial(node, node.inputs[0])
        out = reader.shape(node.outputs[0], node)
        flags: dict[str, Any] = {
            "bilinear": mode == "linear",
            "align_corners": how == "align_corners",
            "pytorch_half_pixel": how == "pytorch_half_pixel",
        }
        scales = None
        position = 1 if early else 2
        if node.op_type == "Upsample" and "scales" in node.attrs:
            scales = [float(s) for s in node.attrs["scales"]]
        elif len(node.inputs) > position and node.inputs[position]:
            scales = [float(s) for s in reader.constant(node.inputs[position], node, "scales").reshape(-1)]
        sized = len(node.inputs) > 3 and bool(node.inputs[3])
        if scales and not sized:
            if len(scales) != 4 or scales[:2] != [1.0, 1.0] or scales[2] != scales[3]:
                raise reader.fail(
                    f"Resize by scales {scales} is not supported (only the same factor on both spatial axes)",
                    node.name,
                )
            scale = Fraction(scales[2]).limit_denominator(1 << 16)  # as written: 2, 1/2, 3/2, 1/3...
            made = cls(scale=scale, **flags).output_shape([(c, h, w)])
            if len(out) == 4 and tuple(made[1:]) != tuple(out[2:]):
                raise reader.fail(f"Resize by {scales[2]} makes {list(out)}, not {h}×{w} scaled by {scale}", node.name)
            reader.add(node, cls.op_name, [node.inputs[0]], scale=str(scale), **flags)
            return
        if len(out) != 4 or tuple(out[:2]) != (1, c):
            raise reader.fail(f"Resize to {list(out)} is not supported (only the spatial axes)", node.name)
        size = out[2] if out[2] == out[3] else [int(out[2]), int(out[3])]
        reader.add(node, cls.op_name, [node.inputs[0]], size=size, **flags)
