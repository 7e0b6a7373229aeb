"""Convolutions: standard, grouped, depthwise and pointwise, as one operator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel import intmath
from costmodel.intmath import Value
from costmodel.ops import _windows
from costmodel.ops._depthwise import depthwise
from costmodel.ops.base import (
    BIAS,
    CHANNELS,
    EXPR,
    FLAG,
    PAD,
    PAIR,
    WEIGHT,
    Array,
    Epilogue,
    Layer,
    OnnxReader,
    OnnxWriter,
    Operator,
    Shape,
    ShapeError,
    WeightArray,
    attr,
    ints,
    known,
    numpy,
    pads,
    pair,
    positive,
    product,
    register,
    spatial,
    window_out,
)


@register
@dataclass(frozen=True)
class Conv2d(Operator):
    """2-D convolution: standard, grouped, depthwise (groups = in) or pointwise."""

    op_name: ClassVar[str] = "conv2d"
    runs_activation: ClassVar[bool] = True
    takes_folded_norm: ClassVar[bool] = True
    onnx_types: ClassVar[tuple[str, ...] | None] = ("Conv",)
    shape_doc: ClassVar[str] = "out × H' × W'"
    params_doc: ClassVar[str] = "out·(C/groups)·K (weight); out (bias, if `bias`)"
    macs_doc: ClassVar[str] = "N·(C/groups)·K"
    other_ops_doc: ClassVar[str] = "N bias adds if `bias`"

    out: Value = attr(CHANNELS, doc="output channels")
    k: Any = attr(PAIR, doc="kernel size, or [kh, kw]")
    stride: Any = attr(PAIR, 1)
    pad: Any = attr(PAD, 0, doc="padding per side, [ph, pw], 'same' (TensorFlow) or 'valid'")
    groups: Value = attr(EXPR, 1, doc="1, a divisor of both widths, or `in` for depthwise")
    bias: bool = attr(FLAG, True)
    dilation: Any = attr(PAIR, 1, doc="spacing of the kernel's taps, or [dh, dw] (atrous; DeepLab)")

    def reach(self) -> tuple[Value, Value]:
        """The input rows and columns one window spans: (k - 1)·dilation + 1 per axis."""
        (kh, kw), (dh, dw) = pair(self.k), pair(self.dilation)
        return (kh - 1) * dh + 1, (kw - 1) * dw + 1

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = spatial(inputs[0], "conv2d")
        positive(self.out, "out")
        positive(self.groups, "groups")
        kh, kw = pair(self.k)
        sh, sw = pair(self.stride)
        dh, dw = pair(self.dilation)
        for v, what in ((kh, "k"), (kw, "k"), (sh, "stride"), (sw, "stride"), (dh, "dilation"), (dw, "dilation")):
            positive(v, what)
        if known(c, self.groups) and c % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {c} input channels")
        if known(self.out, self.groups) and self.out % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {self.out} output channels")
        ph, pw = pads(self.pad)
        rh, rw = self.reach()
        ho = window_out("conv2d", h, rh, sh, ph, False, "height")
        wo = window_out("conv2d", w, rw, sw, pw, False, "width")
        return (self.out, ho, wo)

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        c = inputs[0][0]
        kh, kw = pair(self.k)
        arrays = {"weight": WeightArray(WEIGHT, (self.out, intmath.floor_div(c, self.groups), kh, kw))}
        if self.bias:
            arrays["bias"] = WeightArray(BIAS, (self.out,))
        return arrays

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        kh, kw = pair(self.k)
        per_output = intmath.floor_div(inputs[0][0], self.groups) * kh * kw
        return product(output) * per_output

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) if self.bias else 0

    def kernel(
        self, inputs: list[Array], weights: dict[str, Array], activation: Operator | None = None
    ) -> tuple[Array, int]:
        """im2col on strided views and one BLAS matmul per group; depthwise as k·k multiply-adds.

        The bias and ``activation`` run as the epilogue: on each band of a depthwise output while
        it is in cache, else on the product. A dilated convolution (depthwise too) takes im2col, its
        windows' taps strided by the dilation.
        """
        np = numpy()
        x = inputs[0]
        w = weights["weight"]
        epilogue = Epilogue(weights.get("bias"), activation)
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        groups = c // cg
        og = o // groups
        sh, sw = ints(*pair(self.stride))
        dh, dw = ints(*pair(self.dilation))
        rh, rw = ints(*self.reach())
        pad_h, pad_w = pads(self.pad)
        ho, wo = _windows.windows_out(pad_h, h, rh, sh), _windows.windows_out(pad_w, wd, rw, sw)
        amounts = (_windows.pad_amounts(pad_h, h, rh, sh, ho), _windows.pad_amounts(pad_w, wd, rw, sw, wo))
        dilated = dh > 1 or dw > 1
        if cg == 1 and not dilated:  # depthwise, times a channel multiplier og
            x = np.repeat(x, og, axis=1) if og > 1 else x
            return depthwise(x, w, amounts, (sh, sw), (ho, wo), epilogue)
        pointwise = groups == 1 and kh == kw == sh == sw == 1 and not any(amounts[0] + amounts[1])
        if pointwise and _windows.channels_last(x):
            # pointwise on a channels-last input: (N·H·W, C) x (C, out), and the output stays channels-last
            y = x.transpose(0, 2, 3, 1).reshape(-1, c) @ w.reshape(o, c).T
            epilogue(y, channel_axis=1)
            return y.reshape(n, h, wd, o).transpose(0, 3, 1, 2), (n * h * wd) * c * o
        xp = _windows.padded(x, amounts)
        if kh == kw == 1:
            cols = _windows.offset(xp, 0, 0, sh, sw, ho, wo).reshape(n, groups, cg, ho * wo)
        else:
            # (N, C, ho, wo, kh, kw) view -> (N, groups, cg·kh·kw, ho·wo) columns (one copy)
            view = _windows.windows(xp, kh, kw, sh, sw, ho, wo, (dh, dw)).transpose(0, 1, 4, 5, 2, 3)
            cols = view.reshape(n, groups, cg * kh * kw, ho * wo)
        mats = w.reshape(groups, og, cg * kh * kw)
        y = np.matmul(mats, cols).reshape(n, o, ho, wo)  # (og, K) x (K, ho·wo) per image and group
        epilogue(y, channel_axis=1)
        return y, n * groups * og * (cg * kh * kw) * (ho * wo)

    def kernel_then(self, inputs: list[Array], weights: dict[str, Array], activation: Operator) -> tuple[Array, int]:
        return self.kernel(inputs, weights, activation)

    def type_label(self, inputs: list[Shape]) -> str:
        kh, kw = pair(self.k)
        dh, dw = pair(self.dilation)
        size = f"{kh}x{kw}" + ("" if (dh, dw) == (1, 1) else f"_d{dh}" if dh == dw else f"_d{dh}x{dw}")
        c = inputs[0][0]
        if self.groups == 1 or (known(self.groups) and self.groups == 1):
            return f"conv{size}"
        if self.groups == c and self.out == c:
            return f"conv_dw{size}"
        return f"conv{size}_grouped"

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        _, h, w = ints(*node.input_shapes[0])
        k = ints(*pair(self.k))
        s = ints(*pair(self.stride))
        reach = ints(*self.reach())
        out.emit(
            "Conv",
            node.name,
            [out.inputs(node)[0], *out.weights(node)],
            kernel_shape=list(k),
            strides=list(s),
            pads=_windows.explicit_pads(self.pad, (h, w), (reach[0], reach[1]), (s[0], s[1])),
            dilations=list(ints(*pair(self.dilation))),
            group=int(self.groups),
        )

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        weight = reader.shape(node.inputs[1], node)
        if len(weight) != 4:
            raise reader.fail(f"only 2-D convolutions are supported, got a weight of shape {list(weight)}", node.name)
        kernel = list(node.attrs.get("kernel_shape", weight[2:]))
        bias = len(node.inputs) > 2 and bool(node.inputs[2])
        attrs = reader.window(node, kernel, dilated=True)
        source = node.inputs[0]
        if isinstance(attrs["pad"], list) and len(attrs["pad"]) == 4:  # asymmetric: a pad layer, then no padding
            top, left, bottom, right = attrs["pad"]
            source, attrs["pad"] = f"{node.name}/pad", 0
            reader.add(node, "pad", [node.inputs[0]], source, source, top=top, bottom=bottom, left=left, right=right)
        reader.stored(node, "weight", node.inputs[1])
        if bias:
            reader.stored(node, "bias", node.inputs[2])
        groups = int(node.attrs.get("group", 1))
        reader.add(node, cls.op_name, [source], out=int(weight[0]), **attrs, groups=groups, bias=bias)
