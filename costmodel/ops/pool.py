"""Pooling: max and average windows, global and adaptive averages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from costmodel import intmath, limits
from costmodel.intmath import Value
from costmodel.ops import _windows
from costmodel.ops.base import (
    FLAG,
    PAD,
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
    pads,
    pair,
    positive,
    product,
    register,
    spatial,
    window_out,
)

# How PyTorch code may compute a global average pool (the ``pytorch`` attribute).
PYTORCH_CALLS = ("module", "function", "mean")


@dataclass(frozen=True)
class _Pool(ParameterFree):
    k: Any = attr(PAIR, doc="window size, or [kh, kw]")
    stride: Any = attr(PAIR, None, doc="defaults to the window size", shown="`k`")
    pad: Any = attr(PAD, 0)
    ceil_mode: bool = attr(FLAG, False, doc="PyTorch's ceil_mode: keep a partial last window")

    def _strides(self) -> tuple[Value, Value]:
        return pair(self.stride if self.stride is not None else self.k)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = spatial(inputs[0], self.op_name)
        kh, kw = pair(self.k)
        sh, sw = self._strides()
        for v, what in ((kh, "k"), (kw, "k"), (sh, "stride"), (sw, "stride")):
            positive(v, what)
        ph, pw = pads(self.pad)
        ho = window_out(self.op_name, h, kh, sh, ph, self.ceil_mode, "height")
        wo = window_out(self.op_name, w, kw, sw, pw, self.ceil_mode, "width")
        return (c, ho, wo)

    def _window(self) -> Value:
        kh, kw = pair(self.k)
        return kh * kw

    def _reduce(self, x: Array, fill: float, combine: Any) -> tuple[Array, tuple[int, ...], tuple[Any, Any]]:
        """Combine the k·k window offsets (strided views of the padded input, k·k vector ops).

        Returns the combined array, (kh, kw, sh, sw, ho, wo) and the (height, width) padding spec.
        """
        h, w = x.shape[2:]
        kh, kw = ints(*pair(self.k))
        sh, sw = ints(*self._strides())
        pad_h, pad_w = pads(self.pad)
        ho, wo = (
            _windows.windows_out(pad_h, h, kh, sh, self.ceil_mode),
            _windows.windows_out(pad_w, w, kw, sw, self.ceil_mode),
        )
        xp = _windows.padded(
            x, (_windows.pad_amounts(pad_h, h, kh, sh, ho), _windows.pad_amounts(pad_w, w, kw, sw, wo)), fill
        )
        y = _windows.offset(xp, 0, 0, sh, sw, ho, wo).copy()
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    combine(y, _windows.offset(xp, i, j, sh, sw, ho, wo), out=y)
        return y, (kh, kw, sh, sw, ho, wo), (pad_h, pad_w)

    def _onnx_attrs(self, node: Layer) -> dict[str, Any]:
        _, h, w = ints(*node.input_shapes[0])
        k = ints(*pair(self.k))
        s = ints(*self._strides())
        pads = _windows.explicit_pads(self.pad, (h, w), (k[0], k[1]), (s[0], s[1]))
        return {"kernel_shape": list(k), "strides": list(s), "pads": pads, "ceil_mode": int(bool(self.ceil_mode))}

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        ceil_mode = bool(node.attrs.get("ceil_mode", 0))
        attrs = reader.window(node, list(node.attrs.get("kernel_shape", [])), ceil_mode)
        if len(node.outputs) > 1 and node.outputs[1]:
            raise reader.fail("MaxPool's indices output is not supported", node.name)
        reader.add(node, cls.op_name, [node.inputs[0]], **attrs, ceil_mode=ceil_mode or None)


@register
@dataclass(frozen=True)
class MaxPool(_Pool):
    op_name: ClassVar[str] = "max_pool"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("MaxPool",)
    shape_doc: ClassVar[str] = "C × H' × W'"
    other_ops_doc: ClassVar[str] = "(K − 1)·N comparisons"

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * (self._window() - 1)  # comparisons

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Padding never wins: it is -inf, as in PyTorch (and TensorFlow's 'SAME')."""
        np = numpy()
        y, _, _ = self._reduce(inputs[0], -np.inf, np.maximum)
        return y, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        out.emit("MaxPool", node.name, out.inputs(node), **self._onnx_attrs(node))


def _divisors(pad: Any, size: int, kernel: int, stride: int, out: int) -> Array:
    """How many inputs each window of one axis averages.

    Explicit padding counts the padding (PyTorch's count_include_pad=True) but not what a ceil_mode
    window reaches beyond it; TensorFlow's 'SAME' counts only real inputs.
    """
    np = numpy()
    before = _windows.pad_amounts(pad, size, kernel, stride, out)[0]
    start = np.arange(out) * stride - before
    if pad == "same":
        return np.minimum(start + kernel, size) - np.maximum(start, 0)
    return np.minimum(start + kernel, size + before) - start


@register
@dataclass(frozen=True)
class AvgPool(_Pool):
    op_name: ClassVar[str] = "avg_pool"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("AveragePool",)
    shape_doc: ClassVar[str] = "C × H' × W'"
    other_ops_doc: ClassVar[str] = "K·N"

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * self._window()  # adds and one divide per output

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = numpy()
        x = inputs[0]
        y, (kh, kw, sh, sw, ho, wo), (pad_h, pad_w) = self._reduce(x, 0.0, np.add)
        rows = _divisors(pad_h, x.shape[2], kh, sh, ho)
        cols = _divisors(pad_w, x.shape[3], kw, sw, wo)
        y /= np.outer(rows, cols).astype(y.dtype)
        return y, 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        # explicit padding counts in the divisor (PyTorch); TensorFlow's 'same' does not
        count_include_pad = 0 if self.pad == "same" else 1
        out.emit(
            "AveragePool", node.name, out.inputs(node), **self._onnx_attrs(node), count_include_pad=count_include_pad
        )


@register
@dataclass(frozen=True)
class GlobalAvgPool(ParameterFree):
    op_name: ClassVar[str] = "global_avg_pool"
    onnx_types: ClassVar[tuple[str, ...] | None] = ("GlobalAveragePool", "ReduceMean")  # over axes 2, 3
    shape_doc: ClassVar[str] = "C × 1 × 1"
    other_ops_doc: ClassVar[str] = "C·H·W"
    pytorch: str = attr(
        PYTORCH_CALLS,
        "module",
        doc="how the PyTorch code computes it: nn.AdaptiveAvgPool2d (`module`), F.adaptive_avg_pool2d "
        "(`function`) or x.mean((2, 3)) (`mean`); each PyTorch counting tool sees it differently",
    )

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, _, _ = spatial(inputs[0], self.op_name)
        return (c, 1, 1)

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(inputs[0])

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return inputs[0].mean(axis=(2, 3), keepdims=True), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        if self.pytorch == "mean":  # as PyTorch writes x.mean((2, 3), keepdim=True) (opset 17: axes an attribute)
            out.emit("ReduceMean", node.name, out.inputs(node), axes=[2, 3], keepdims=1)
        else:
            out.emit("GlobalAveragePool", node.name, out.inputs(node))

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        reader.spatial(node, node.inputs[0])
        if node.op_type == "ReduceMean":  # x.mean((2, 3)) in PyTorch, as the counting tools see it
            if reader.opset >= 18 and len(node.inputs) > 1 and node.inputs[1]:
                axes = [int(a) for a in reader.constant(node.inputs[1], node, "axes").reshape(-1)]
            else:
                axes = list(node.attrs.get("axes", []))
            if sorted(a % 4 for a in axes) != [2, 3]:
                raise reader.fail(
                    f"ReduceMean over axes {axes} is not supported (only the spatial axes 2, 3)", node.name
                )
            if not int(node.attrs.get("keepdims", 1)):  # x.mean((2, 3)): [N, C], the pool then a flatten
                pooled = f"{node.name}/pooled"
                reader.add(node, cls.op_name, [node.inputs[0]], pooled, pytorch="mean")
                reader.add(node, "flatten", [pooled], node.outputs[0], f"{node.name}/flatten")
                return
            reader.add(node, cls.op_name, [node.inputs[0]], pytorch="mean")
            return
        reader.add(node, cls.op_name, [node.inputs[0]])


def adaptive_bounds(size: Value, out: int) -> list[tuple[Value, Value]]:
    """PyTorch's adaptive pooling windows: [floor(i·size/out), ceil((i+1)·size/out))."""
    return [(intmath.floor_div(i * size, out), intmath.ceil_div((i + 1) * size, out)) for i in range(out)]


@register
@dataclass(frozen=True)
class AdaptiveAvgPool(ParameterFree):
    """Average pooling to a fixed output size, whatever the input (torchvision's AlexNet head)."""

    op_name: ClassVar[str] = "adaptive_avg_pool"
    # ONNX has no adaptive pool: files hold an AveragePool where the sides divide, else PyTorch's
    # lowering around a GatherND of the windows (read by claims)
    onnx_types: ClassVar[tuple[str, ...] | None] = ("GatherND",)
    shape_doc: ClassVar[str] = "C × h × w"
    other_ops_doc: ClassVar[str] = "C · Σ window heights · Σ window widths"
    size: Any = attr(PAIR, doc="output size, or [h, w]", note="constant")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, _, _ = spatial(inputs[0], self.op_name)
        oh, ow = pair(self.size)
        for v in (oh, ow):
            if not (intmath.is_number(v) and v == int(v) and v >= 1):
                raise ShapeError(f"size must be a positive integer constant, got {v}")
            if v > limits.current().pool_side:  # counted window by window; a closed form has a term per window
                raise ShapeError(limits.past("pool_side", "the output side of an adaptive pool", v))
        return (c, oh, ow)

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        c, h, w = inputs[0]
        oh, ow = pair(self.size)
        rows = sum((end - start for start, end in adaptive_bounds(h, int(oh))), 0)
        cols = sum((end - start for start, end in adaptive_bounds(w, int(ow))), 0)
        return c * rows * cols

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Window sums from a summed-area table (float64), indexed by PyTorch's window bounds."""
        np = numpy()
        x = inputs[0]
        n, c, h, w = x.shape
        oh, ow = ints(*pair(self.size))
        (h0, h1), (w0, w1) = (np.array(adaptive_bounds(h, oh)).T, np.array(adaptive_bounds(w, ow)).T)
        table = np.zeros((n, c, h + 1, w + 1))
        np.cumsum(x, axis=2, dtype=np.float64, out=table[:, :, 1:, 1:])
        np.cumsum(table[:, :, 1:, 1:], axis=3, out=table[:, :, 1:, 1:])
        r0, r1, c0, c1 = h0[:, None], h1[:, None], w0[None, :], w1[None, :]
        sums = table[:, :, r1, c1] - table[:, :, r0, c1] - table[:, :, r1, c0] + table[:, :, r0, c0]
        return (sums / ((r1 - r0) * (c1 - c0))).astype(x.dtype), 0

    def to_onnx(self, node: Layer, out: OnnxWriter) -> None:
        """An AveragePool where the output side divides the input side (ONNX has no adaptive pool), else
        the windows gathered and averaged, as PyTorch's dynamo exporter writes it (read back by claims)."""
        _, h, w = ints(*node.input_shapes[0])
        oh, ow = ints(*pair(self.size))
        if h % oh == 0 and w % ow == 0:
            k = [h // oh, w // ow]
            out.emit(
                "AveragePool",
                node.name,
                out.inputs(node),
                kernel_shape=k,
                strides=k,
                pads=[0, 0, 0, 0],
                count_include_pad=1,
            )
            return
        np = numpy()
        rows, cols = adaptive_bounds(h, oh), adaptive_bounds(w, ow)
        kh, kw = (max(end - start for start, end in bounds) for bounds in (rows, cols))
        # window i's a-th row: start + a, repeating its last row past its end (masked out below)
        row = np.array([[min(start + a, end - 1) for a in range(kh)] for start, end in rows])
        col = np.array([[min(start + b, end - 1) for b in range(kw)] for start, end in cols])
        indices = np.stack(np.broadcast_arrays(row[:, :, None, None], col[None, None, :, :]), axis=-1)
        inside = np.array([[a < end - start for a in range(kh)] for start, end in rows])
        across = np.array([[b < end - start for b in range(kw)] for start, end in cols])
        mask = inside[:, :, None, None] & across[None, None, :, :]
        areas = np.array([[(r1 - r0) * (c1 - c0) for c0, c1 in cols] for r0, r1 in rows])
        x = out.inputs(node)[0]
        last = out.emit("Transpose", f"{node.name}/to_hw", [x], perm=[2, 3, 0, 1])
        windows = out.emit("GatherND", f"{node.name}/windows", [last, out.integers(node.name, "indices", indices)])
        back = out.emit("Transpose", f"{node.name}/to_nc", [windows], perm=[4, 5, 0, 1, 2, 3])
        kept = out.emit("Mul", f"{node.name}/mask", [back, out.constant(node.name, "inside", mask)])
        sums = out.emit("ReduceSum", f"{node.name}/sum", [kept, out.integers(node.name, "axes", [3, 5])], keepdims=0)
        out.emit("Div", node.name, [sums, out.constant(node.name, "areas", areas)])

    @classmethod
    def claims(cls, node: Any, reader: OnnxReader) -> tuple[str, list[Any], Any] | None:
        """(x, the other nodes, the last) of PyTorch's lowering of an adaptive average pool whose output
        side does not divide the input side (dynamo; AlexNet and VGG at 193): a Transpose of x, a GatherND
        of every window's rows and columns padded to the largest window, Where masks zeroing the padding,
        Gathers and Adds summing, a Div by the window areas. Taken as such only when those nodes compute
        exactly the pool on a probe input: whatever the exporter's next version writes in between."""
        return _lowered_adaptive_pool(node, reader)

    @classmethod
    def from_onnx(cls, node: Any, reader: OnnxReader) -> None:
        found = reader.claimed(node)
        if found is None:
            raise reader.fail(
                "GatherND is read only as PyTorch's lowering of an adaptive average pool, and this one does not "
                "compute one",
                node.name,
            )
        x, _, last = found
        oh, ow = reader.shape(last.outputs[0], last)[2:]
        reader.add(last, cls.op_name, [x], last.outputs[0], size=oh if oh == ow else [oh, ow])


REGION_NODES = 64  # the most nodes a lowered adaptive pool may take (AlexNet's takes 17)


def _lowered_adaptive_pool(node: Any, reader: OnnxReader) -> tuple[str, list[Any], Any] | None:
    if node.op_type != "GatherND" or not node.inputs or not reader.is_static(node.inputs[-1]):
        return None
    transpose = reader.producer(node.inputs[0])
    if transpose is None or transpose.op_type != "Transpose" or reader.only_consumer(transpose.outputs[0]) is not node:
        return None
    x = transpose.inputs[0]
    source = reader.shape_of(x)
    if source is None or len(source) != 4 or min(source) < 1:  # an empty map has no windows to average
        return None
    np = numpy()
    limits.check_memory(8 * product(source), f"checking what the nodes after {x} compute")
    probe = np.random.default_rng(0).standard_normal(tuple(int(d) for d in source)).astype(np.float32)
    for nodes, last in reader.regions(transpose, REGION_NODES):
        made = reader.shape_of(last.outputs[0])
        if made is None or len(made) != 4 or tuple(made[:2]) != tuple(source[:2]) or min(made[2:]) < 1:
            continue
        if max(made[2:]) > limits.current().pool_side:
            return None
        oh, ow = int(made[2]), int(made[3])
        computed = reader.computes(nodes, x, probe)
        expected, _ = AdaptiveAvgPool(size=(oh, ow)).kernel([probe], {})
        if computed is not None and computed.shape == expected.shape and np.allclose(computed, expected, 1e-5, 1e-6):
            return x, [n for n in nodes if n is not node], last
    return None
