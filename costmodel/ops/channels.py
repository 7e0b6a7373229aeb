"""Operators that take channels apart and put them back in another order: a slice of the channels (a
ShuffleNet v2 unit's split) and ShuffleNet's channel shuffle. They only move data: no weights, no
products, no other ops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel import intmath
from costmodel.intmath import Value
from costmodel.ops.base import (
    EXPR,
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
    nonnegative,
    numpy,
    positive,
    register,
    spatial,
)
from costmodel.ops.tokens import Transpose

SHUFFLE_PERM = [0, 2, 1, 3, 4]  # (N, g, C/g, H, W) -> (N, C/g, g, H, W)


@register
@dataclass(frozen=True)
class Slice(ParameterFree):
    """Channels [start, stop) of the input: PyTorch's ``x[:, a:b]``, ``torch.chunk`` and ``torch.split``
    (ShuffleNet v2 splits its input in two halves); along another ``axis`` and every ``step``-th, as
    ``x[..., a:b:step, :]`` (Swin's patch merging, and its cyclic shift: two slices and a concat).
    ``start`` and ``stop`` are positions in the input, not widths: the width rule never scales them."""

    op_name: ClassVar[str] = "slice"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Slice", "Split")
    shape_doc: ClassVar[str] = "(stop − start) × H × W; ⌈(stop − start) / step⌉ along `axis`"

    start: Value = attr(INDEX, doc="the first position taken (0 for the first)")
    stop: Value = attr(INDEX, doc="one past the last position taken")
    axis: Value = attr(INDEX, 0, doc="the axis sliced (0: the channels)")
    step: Value = attr(EXPR, 1, doc="take every step-th position")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        axis = axis_of(self.axis, shape, "slice")
        nonnegative(self.start, "slice start")
        nonnegative(self.stop, "slice stop")
        positive(self.step, "slice step")
        if known(self.start, self.stop) and self.start >= self.stop:
            raise ShapeError(f"slice start {self.start} must be less than its stop {self.stop}")
        if known(self.stop, shape[axis]) and self.stop > shape[axis]:
            what = "channels" if axis == 0 else f"positions of axis {axis}"
            raise ShapeError(f"slice stop {self.stop} is past the input's {shape[axis]} {what}")
        size = intmath.ceil_div(self.stop - self.start, self.step)
        return (*shape[:axis], size, *shape[axis + 1 :])

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Always a copy: a view would share the input's memory, which an in-place kernel reading the slice
        (a relu) would then write over while another layer still reads it."""
        index = [slice(None)] * inputs[0].ndim
        index[int(self.axis) + 1] = slice(int(self.start), int(self.stop), int(self.step))
        return inputs[0][tuple(index)].copy(order="C"), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        starts = out.integers(node.name, "starts", [int(self.start)])
        ends = out.integers(node.name, "ends", [int(self.stop)])
        axes = out.integers(node.name, "axes", [int(self.axis) + 1])
        steps = [out.integers(node.name, "steps", [int(self.step)])] if int(self.step) != 1 else []
        out.emit("Slice", node.name, [*out.inputs(node), starts, ends, axes, *steps])

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        """One slice layer per axis sliced: the last named after the node, the ones before ``NODE/axisA``."""
        if node.op_type == "Split":
            cls._split(node, reader)
            return
        data = reader.plain(node.inputs[0], node)
        full = reader.shape(data, node)
        if reader.opset < 10:  # bounds as attributes
            starts, ends = node.attrs.get("starts", []), node.attrs.get("ends", [])
            axes, steps = node.attrs.get("axes"), None
        else:
            starts = _integers(reader.constant(node.inputs[1], node, "starts"))
            ends = _integers(reader.constant(node.inputs[2], node, "ends"))
            axes = _optional(node, 3, reader, "axes")
            steps = _optional(node, 4, reader, "steps")
        axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
        steps = [1] * len(axes) if steps is None else [int(s) for s in steps]
        if not len(starts) == len(ends) == len(axes) == len(steps) or not axes:
            raise reader.fail(f"Slice of {len(axes)} axes with {len(starts)} starts and {len(ends)} ends", node.name)
        if min(steps) < 1:
            raise reader.fail(f"Slice with steps {steps} is not supported (only positive steps)", node.name)
        cuts = []
        for given, begin, end, step in zip(axes, starts, ends, steps, strict=True):
            axis = reader.image_axis(data, given, node)
            start, stop, _ = slice(int(begin), int(end)).indices(full[given % len(full)])  # ONNX's clamping
            if start >= stop:
                raise reader.fail(f"Slice [{int(begin)}, {int(end)}) of axis {given} is empty", node.name)
            if (start, stop, step) != (0, full[given % len(full)], 1):  # not the whole axis
                cuts.append({"axis": axis or None, "start": start, "stop": stop, "step": step if step != 1 else None})
        if not cuts:
            reader.alias(node.outputs[0], data, node)
            return
        source = data
        for i, cut in enumerate(cuts):
            last = i == len(cuts) - 1
            made = node.outputs[0] if last else f"{node.outputs[0]}#axis{cut['axis'] or 0}"
            name = None if last else f"{node.name}/axis{cut['axis'] or 0}"
            reader.add(node, cls.op_name, [source], made, name, **cut)
            source = made

    @classmethod
    def _split(cls, node: Any, reader: OnnxReader) -> None:
        """One slice layer per output, named ``NODE:i`` (torch.chunk of the channels, or of attention's
        Q, K and V along the features)."""
        data = reader.plain(node.inputs[0], node)
        full = reader.shape(data, node)
        given = int(node.attrs.get("axis", 0))
        axis = reader.image_axis(data, given, node)
        c = full[given % len(full)]
        parts = len(node.outputs)
        sizes = _optional(node, 1, reader, "split")  # opset 13 on: an input
        if sizes is None and "split" in node.attrs:  # before opset 13: an attribute
            sizes = node.attrs["split"]
        if sizes is not None:
            sizes = [int(s) for s in sizes]
        elif "num_outputs" in node.attrs:  # opset 18: equal parts, the last one smaller
            count = int(node.attrs["num_outputs"])
            size = -(-c // count) if count > 0 else 0
            sizes = [size] * (count - 1) + [c - size * (count - 1)]
        elif c % parts == 0:
            sizes = [c // parts] * parts
        else:
            raise reader.fail(
                f"Split of {c} positions of axis {given} into {parts} equal parts is not possible", node.name
            )
        if len(sizes) != parts or sum(sizes) != c or min(sizes, default=0) < 1:
            raise reader.fail(f"Split sizes {sizes} do not cut the {c} positions into {parts} parts", node.name)
        start = 0
        for index, (output, size) in enumerate(zip(node.outputs, sizes, strict=True)):
            if output:  # an output without a name is not made
                reader.add(
                    node,
                    cls.op_name,
                    [data],
                    output,
                    f"{node.name}:{index}",
                    start=start,
                    stop=start + size,
                    axis=axis or None,
                )
            start += size


def _integers(value: Array) -> list[int]:
    return [int(v) for v in value.reshape(-1)]


def _optional(node: Any, index: int, reader: OnnxReader, what: str) -> list[int] | None:
    """An optional constant input of integers, None where the node leaves it out."""
    if len(node.inputs) <= index or not node.inputs[index]:
        return None
    return _integers(reader.constant(node.inputs[index], node, what))


@register
@dataclass(frozen=True)
class ChannelShuffle(ParameterFree):
    """ShuffleNet's channel shuffle: the channels, seen as a (groups, C/groups) matrix, read by column,
    so that the next grouped convolution sees channels from every group."""

    op_name: ClassVar[str] = "channel_shuffle"
    # as torchvision's channel_shuffle exports: Reshape, Transpose, Reshape (the Reshapes belong to it);
    # a Transpose to channels last and back is read here too, as no layer (ConvNeXt), any other as transpose
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Transpose",)

    groups: Value = attr(EXPR, doc="a divisor of the channels")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, _, _ = spatial(inputs[0], "channel_shuffle")
        positive(self.groups, "channel_shuffle groups")
        if known(c, self.groups) and c % self.groups:
            raise ShapeError(f"channel_shuffle groups {self.groups} does not divide the {c} input channels")
        return inputs[0]

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Written into a new array: with one group (or as many as channels) the reshapes alone would give
        back a view of the input."""
        np = numpy()
        x = inputs[0]
        n, c, h, w = x.shape
        g = int(self.groups)
        y = np.empty((n, c, h, w), dtype=x.dtype)
        y.reshape(n, c // g, g, h, w)[...] = x.reshape(n, g, c // g, h, w).transpose(SHUFFLE_PERM)
        return y, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        """Reshape to [N, g, C/g, H, W], Transpose, Reshape back; the Transpose carries the layer's name
        (the importer names the layer after it), the last Reshape makes its output."""
        c, h, w = (int(v) for v in node.input_shapes[0])
        g = int(self.groups)
        grouped_shape = out.integers(node.name, "grouped_shape", [0, g, c // g, h, w])  # 0: the batch, copied
        shape = out.integers(node.name, "shape", [0, c, h, w])
        grouped = out.emit("Reshape", f"{node.name}/group", [*out.inputs(node), grouped_shape])
        swapped = out.emit("Transpose", node.name, [grouped], output=f"{node.name}/transpose", perm=SHUFFLE_PERM)
        out.emit("Reshape", f"{node.name}/ungroup", [swapped, shape], output=node.name)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        perm = [int(p) for p in node.attrs.get("perm", [])]
        rank = len(reader.shape(node.inputs[0], node))
        if rank == 4 and perm == [0, 2, 3, 1] and not reader.is_channels_last(node.inputs[0]):
            reader.view(node, channels_last=True)  # ConvNeXt's LayerNorm and MLP run channels last
            return
        if rank == 4 and perm == [0, 3, 1, 2] and reader.is_channels_last(node.inputs[0]):
            reader.view(node, channels_last=False)
            return
        found = cls.pattern(node, reader)
        if found is None:
            Transpose.from_onnx(node, reader)
            return
        grouping, ungrouping, groups = found
        reader.absorb(grouping)
        reader.absorb(ungrouping)
        reader.add(node, cls.op_name, [grouping.inputs[0]], ungrouping.outputs[0], groups=groups)

    @classmethod
    def opens(cls, node: Any, reader: OnnxReader) -> bool:
        """Whether a Reshape is the first node of a channel shuffle (read with its Transpose)."""
        user = reader.only_consumer(node.outputs[0])
        if user is None or user.op_type != "Transpose":
            return False
        found = cls.pattern(user, reader)
        return found is not None and found[0] is node

    @classmethod
    def pattern(cls, node: Any, reader: OnnxReader) -> tuple[Any, Any, int] | None:
        """(the Reshape before, the Reshape after, groups) of a Transpose that is the middle of a channel
        shuffle as torchvision's ``channel_shuffle`` exports it, each node the only reader of the one
        before: [N, C, H, W] -> [N, g, C/g, H, W] -> perm [0, 2, 1, 3, 4] -> [N, C, H, W]; else None."""
        if node.op_type != "Transpose" or list(node.attrs.get("perm", [])) != SHUFFLE_PERM:
            return None
        grouping = reader.producer(node.inputs[0])
        ungrouping = reader.only_consumer(node.outputs[0])
        if grouping is None or ungrouping is None or grouping.op_type != "Reshape" or ungrouping.op_type != "Reshape":
            return None
        if reader.only_consumer(grouping.outputs[0]) is not node:
            return None
        source = reader.shape_of(grouping.inputs[0])
        grouped = reader.shape_of(grouping.outputs[0])
        result = reader.shape_of(ungrouping.outputs[0])
        if source is None or grouped is None or len(source) != 4 or len(grouped) != 5 or result != source:
            return None
        n, c, h, w = source
        g = grouped[1]
        if g < 1 or g * grouped[2] != c or tuple(grouped) != (n, g, c // g, h, w):
            return None
        return grouping, ungrouping, g
