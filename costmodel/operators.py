"""The operator registry: each operator type defined once.

An operator is a frozen dataclass registered under its YAML name. Its fields are the schema of its YAML
entry; beside them sit its shape rule, its weight shapes (parameter counts are derived from these, never
typed separately), its multiply-accumulate count, its count of other ops and its NumPy kernel (what the
executor runs; see :meth:`Operator.kernel`). All formulas go through
:mod:`costmodel.intmath`, so they give exact integers for a concrete point and sympy closed forms for
symbols. Adding an operator is one class here and one row in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from costmodel import intmath
from costmodel.intmath import Value

Shape = tuple[Value, ...]
Array = Any  # a numpy.ndarray (numpy is imported only when a kernel runs)

# Field kinds: how a YAML value becomes an attribute value.
EXPR = "expr"  # an integer expression
CHANNELS = "channels"  # an integer expression scaled by the spec's width rule unless fixed()
PAIR = "pair"  # an expression or [h, w]
PAD = "pad"  # like PAIR, or 'same' / 'valid'
FLAG = "flag"  # true / false
NUMBER = "number"  # any number (dropout probability)

WEIGHT = "weight"
BIAS = "bias"
NORM_AFFINE = "norm_affine"
NORM_STATS = "norm_stats"
WEIGHT_KINDS = (WEIGHT, BIAS, NORM_AFFINE, NORM_STATS)


class ShapeError(ValueError):
    """The operator cannot take these inputs (the graph adds file, line and layer)."""


@dataclass(frozen=True)
class WeightArray:
    kind: str
    shape: Shape

    @property
    def size(self) -> Value:
        return product(self.shape)


_REQUIRED = object()


def attr(kind: str, default: Any = _REQUIRED, doc: str = "") -> Any:
    """A dataclass field carrying its YAML kind; without a default the attribute is required."""
    meta = {"kind": kind, "doc": doc}
    if default is _REQUIRED:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


def product(values: Shape) -> Value:
    result: Value = 1
    for v in values:
        result = result * v
    return result


def _known(*values: Value) -> bool:
    return all(intmath.is_number(v) for v in values)


REGISTRY: dict[str, type[Operator]] = {}


def register(cls: type[Operator]) -> type[Operator]:
    REGISTRY[cls.op_name] = cls
    return cls


@dataclass(frozen=True)
class Operator:
    """Base: an elementwise, parameter-free, single-input operator."""

    op_name: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1
    other_ops_per_element: ClassVar[int] = 0
    doc: ClassVar[str] = ""
    # An elementwise kernel that can write its result over its input: the executor passes
    # overwrite=True when nothing else will read that input (saves an allocation and a pass).
    in_place: ClassVar[bool] = False
    # A layer whose kernel takes an ``activation`` to run on its output while it is in cache (Epilogue).
    runs_activation: ClassVar[bool] = False
    # An elementwise activation such a layer may run for it (it has kernel_in_place).
    fusable_activation: ClassVar[bool] = False

    @classmethod
    def schema(cls) -> dict[str, str]:
        return {f.name: f.metadata["kind"] for f in fields(cls)}

    @classmethod
    def required(cls) -> set[str]:
        from dataclasses import MISSING

        return {f.name for f in fields(cls) if f.default is MISSING}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each attribute's default (dataclasses.MISSING for a required one)."""
        return {f.name: f.default for f in fields(cls)}

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        return {}

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return 0

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return self.other_ops_per_element * product(output)

    def type_label(self, inputs: list[Shape]) -> str:
        """The row this operator counts under in a breakdown by operator type."""
        return self.op_name

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Run the operator on float32 batches: (N, C, H, W) or (N, F) arrays, one per input.

        ``weights`` holds exactly the arrays of :meth:`weights` (same names and shapes). Returns the
        output batch and the multiply-accumulates performed, counted from the operand shapes of the
        products that ran (an (M, K) x (K, N) matmul counts M·K·N; a window multiply-add over an array
        of E elements counts E per window offset), for the whole batch. Elementwise scaling (batch norm,
        a gate, an average's divide) is not a product in this sense: it counts under other ops, as in
        the formulas.
        """
        raise NotImplementedError(f"{self.op_name} has no NumPy kernel")


@dataclass(frozen=True)
class Epilogue:
    """What a conv or linear layer does to its output right after its products, block by block while
    the block is in cache: add its bias, then run the activation the executor fused into it."""

    bias: Array | None = None
    activation: Operator | None = None

    def __call__(self, block: Array, channel_axis: int) -> None:
        if self.bias is not None:
            shape = [1] * block.ndim
            shape[channel_axis] = -1
            block += self.bias.reshape(shape) if self.bias.ndim == 1 else self.bias
        if self.activation is not None:
            self.activation.kernel_in_place([block], {}, overwrite=True)

    def along_rows(self, width: int) -> Epilogue:
        """The same epilogue for channels-last blocks (..., width, C): the bias tiled to (width, C), so
        that its add runs along whole rows rather than C values at a time."""
        if self.bias is None:
            return self
        return Epilogue(_np().tile(self.bias, (width, 1)), self.activation)


def _pair(value: Any) -> tuple[Value, Value]:
    if isinstance(value, tuple):
        return value
    return (value, value)


def _positive(value: Value, what: str) -> None:
    if intmath.is_number(value) and (value != int(value) or value < 1):
        raise ShapeError(f"{what} must be a positive integer, got {value}")


def _nonnegative(value: Value, what: str) -> None:
    if intmath.is_number(value) and (value != int(value) or value < 0):
        raise ShapeError(f"{what} must be a whole number of at least 0, got {value}")


def _pads(pad: Any) -> tuple[Any, Any]:
    """(height, width) padding; 'same' and 'valid' stay as they are, numbers must not be negative."""
    if pad in ("same", "valid"):
        return pad, pad
    ph, pw = _pair(pad)
    _nonnegative(ph, "pad")
    _nonnegative(pw, "pad")
    return ph, pw


def _spatial(shape: Shape, op: str) -> tuple[Value, Value, Value]:
    if len(shape) != 3:
        raise ShapeError(f"{op} needs a (channels, height, width) input, got shape {_fmt(shape)}")
    return shape[0], shape[1], shape[2]


def _fmt(shape: Shape) -> str:
    return "×".join(str(s) for s in shape)


def _window_out(op: str, size: Value, kernel: Value, stride: Value, pad: Any, ceil_mode: bool, axis: str) -> Value:
    if pad == "same":
        out = intmath.same_out(size, stride)
    else:
        out = intmath.conv_out(size, kernel, stride, 2 * (0 if pad == "valid" else pad), ceil_mode)
    if intmath.is_number(out) and out < 1:
        raise ShapeError(
            f"input {axis} {size} is too small for the {kernel}-wide {op} window (stride {stride}, padding {pad})"
        )
    return out


# -- NumPy kernels: helpers ------------------------------------------------------------------------


def _np() -> Any:
    import numpy  # imported lazily: counting never needs it

    return numpy


def _ints(*values: Value) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


def _windows_out(pad: Any, size: int, kernel: int, stride: int, ceil_mode: bool = False) -> int:
    """How many windows the kernel slides over one axis: its own arithmetic, not the shape formula,
    so that comparing its output with :meth:`Operator.output_shape` checks the formula.

    'same': ceil(size / stride) (TensorFlow); 'valid': no padding; a number p: PyTorch's rule, floor or
    (``ceil_mode``) ceil of (size + 2p - kernel) / stride, plus one, less a last window that would start
    in the right padding.
    """
    if pad == "same":
        return -(-size // stride)
    before = 0 if pad == "valid" else int(pad)
    span = size + 2 * before - kernel
    if span < 0:
        raise ShapeError(f"a {kernel}-wide window does not fit in {size} + 2·{before} padding")
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    return out - 1 if (out - 1) * stride >= size + before else out


def _pad_amounts(pad: Any, size: int, kernel: int, stride: int, out: int) -> tuple[int, int]:
    """(before, after) padding of one axis that gives ``out`` windows.

    Explicit padding is symmetric; 'valid' is none; 'same' is TensorFlow's: the total padding
    max((out - 1)·stride + kernel - size, 0), the odd pixel after. With ``ceil_mode`` the windows
    may reach past the padding: ``after`` grows to cover them (their divisor excludes it).
    """
    if pad == "same":
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2
    before = 0 if pad == "valid" else int(pad)
    return before, max((out - 1) * stride + kernel - size - before, before)


def _padded(x: Array, pads: tuple[tuple[int, int], tuple[int, int]], fill: float = 0.0) -> Array:
    """x (N, C, H, W) padded by ((top, bottom), (left, right)) with ``fill``."""
    np = _np()
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + top + bottom, w + left + right), fill, dtype=x.dtype)
    out[:, :, top : top + h, left : left + w] = x
    return out


def _offset(x: Array, i: int, j: int, sh: int, sw: int, ho: int, wo: int) -> Array:
    """x[:, :, i + sh·a, j + sw·b] for every output pixel (a, b): one strided view, no copy."""
    return x[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]


def _windows(x: Array, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> Array:
    """(N, C, ho, wo, kh, kw): every window as a strided view (sliding_window_view, no copy)."""
    from numpy.lib.stride_tricks import sliding_window_view

    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, : sh * (ho - 1) + 1 : sh, : sw * (wo - 1) + 1 : sw]


DEPTHWISE_BAND = 1 << 17  # output values per band of rows (512 KiB of float32: the band stays in cache)
# From this many channels on, a depthwise band is one einsum over all window offsets: a fused
# multiply-add along the channels, no temporaries, the input read in place. Below it, the rows of
# channels are too short for that to pay, and each offset is a vector multiply and add over whole
# rows instead (MobileNet v1 side by side: 64 beat 32 and 128 by 4-10 %).
DEPTHWISE_EINSUM_CHANNELS = 64


def _channels_last(x: Array) -> bool:
    """Whether x (N, C, H, W) is laid out as (N, H, W, C) in memory (what depthwise and pointwise leave)."""
    return x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous and not x.flags.c_contiguous


def _phase_span(phase: int, stride: int, before: int, size: int, padded: int) -> tuple[int, int, int, int]:
    """One axis of a stride phase of a padded input: (its length, the first and past-the-last of its
    positions that hold input rather than padding, the input index of the first one)."""
    length = -(-(padded - phase) // stride)
    first = min(length, max(0, -(-(before - phase) // stride)))
    last = min(length, max(0, -(-(before + size - phase) // stride)))
    return length, first, last, phase + stride * first - before


def _phases(x: Array, pads: tuple[tuple[int, int], tuple[int, int]], sh: int, sw: int) -> dict[tuple[int, int], Array]:
    """x (N, C, H, W) zero-padded, channels last, and split by stride phase: phase (p, q) holds the
    padded rows p, p + sh, ... and columns q, q + sw, ..., so that every window offset of a strided
    conv is a dense slice of one phase. Together the phases are one copy of the input."""
    np = _np()
    (top, bottom), (left, right) = pads
    last = x.transpose(0, 2, 3, 1)  # (N, H, W, C), a view
    n, h, w, c = last.shape
    phases = {}
    for p in range(sh):
        rows, r0, r1, src_row = _phase_span(p, sh, top, h, h + top + bottom)
        for q in range(sw):
            cols, c0, c1, src_col = _phase_span(q, sw, left, w, w + left + right)
            phase = np.empty((n, rows, cols, c), dtype=x.dtype)
            for border in (phase[:, :r0], phase[:, r1:], phase[:, r0:r1, :c0], phase[:, r0:r1, c1:]):
                border.fill(0)  # the padding only: the rest is overwritten next
            if r1 > r0 and c1 > c0:
                phase[:, r0:r1, c0:c1, :] = last[:, src_row::sh, src_col::sw, :][:, : r1 - r0, : c1 - c0, :]
            phases[(p, q)] = phase
    return phases


def _depthwise(
    x: Array,
    w: Array,
    pads: tuple[tuple[int, int], tuple[int, int]],
    strides: tuple[int, int],
    out_size: tuple[int, int],
    epilogue: Epilogue,
) -> tuple[Array, int]:
    """One filter per channel: input x (N, C, H, W) padded by ``pads``, weights (C, 1, kh, kw).

    Channels last, in bands of output rows that stay in cache; ``epilogue`` runs on each band while
    it is there. Each band is computed over every channel at once, one of two ways (the same
    products, counted the same):

    - many channels: one ``einsum`` of the band's windows (strided views of the input, and of padded
      copies of its edges) with the (kh, kw, C) taps, which multiplies and accumulates along the
      channels in one pass;
    - few channels: per window offset, a vector multiply and add over a dense (rows, wo, C) slice of
      a stride phase of the input, the taps tiled along the row so that both operands run contiguously.

    The output is channels-last in memory (a transposed view), which the pointwise conv after it
    takes as one matrix.
    """
    np = _np()
    n, c = x.shape[:2]
    ho, wo = out_size
    y = np.empty((n, ho, wo, c), dtype=np.result_type(x, w))
    rows = max(1, DEPTHWISE_BAND // (n * wo * c))
    band_of = _depthwise_einsum if c >= DEPTHWISE_EINSUM_CHANNELS else _depthwise_offsets
    run_band = band_of(x, w, pads, strides, out_size, min(rows, ho))
    epilogue = epilogue.along_rows(wo)
    macs = 0
    for top in range(0, ho, rows):
        out = y[:, top : top + min(rows, ho - top)]
        macs += run_band(top, out)
        epilogue(out, channel_axis=3)
    return y.transpose(0, 3, 1, 2), macs


def _depthwise_einsum(
    x: Array, w: Array, pads: Any, strides: tuple[int, int], out_size: tuple[int, int], rows: int
) -> Any:
    """A band computer: out[n, a, b, c] = Σ_ij windows[n, a, b, c, i, j] · taps[i, j, c] (see _depthwise).

    A channels-last input is read in place for the windows that lie wholly inside it; only the thin
    frame of windows that reach into the padding reads from padded copies of the input's edges.
    """
    np = _np()
    c, _, kh, kw = w.shape
    (sh, sw), (ho, wo) = strides, out_size
    (top, _), (left, _) = pads
    h, wd = x.shape[2:]
    taps = np.ascontiguousarray(w.reshape(c, kh, kw).transpose(1, 2, 0))  # (kh, kw, C)
    if _channels_last(x):  # interior windows straight from the input
        a0, a1 = _inside(top, h, kh, sh, ho)
        b0, b1 = _inside(left, wd, kw, sw, wo)
    else:  # one padded channels-last copy serves every window
        a0 = a1 = b0 = b1 = 0
    # each region: (output rows, output cols, windows, the padded-input row and col where they start)
    regions = []
    if a1 > a0 and b1 > b0:
        inner = _window_view(x.transpose(0, 2, 3, 1), kh, kw)
        regions.append(((a0, a1), (b0, b1), inner, top, left))
    # the frame: rows above and below the interior, then its left and right (no interior: all rows)
    frame = [((0, a0), (0, wo)), ((a1, ho), (0, wo)), ((a0, a1), (0, b0)), ((a0, a1), (b1, wo))]
    for (r0, r1), (q0, q1) in frame:
        if r1 > r0 and q1 > q0:
            rows_in = (r0 * sh, (r1 - 1) * sh + kh)  # the padded rows and cols these windows cover
            cols_in = (q0 * sw, (q1 - 1) * sw + kw)
            edge = _padded_part(x, pads, rows_in, cols_in)
            regions.append(
                (
                    (r0, r1),
                    (q0, q1),
                    _window_view(edge, kh, kw),
                    rows_in[0],
                    cols_in[0],
                )
            )

    def run_band(band_top: int, out: Array) -> int:
        band_end = band_top + out.shape[1]
        macs = 0
        for (r0, r1), (q0, q1), windows, row0, col0 in regions:
            lo, hi = max(r0, band_top), min(r1, band_end)
            if hi <= lo:
                continue
            first_row, first_col = lo * sh - row0, q0 * sw - col0
            view = windows[
                :,
                first_row : first_row + (hi - lo - 1) * sh + 1 : sh,
                first_col : first_col + (q1 - q0 - 1) * sw + 1 : sw,
            ]
            part = out[:, lo - band_top : hi - band_top, q0:q1]
            np.einsum("nrbcij,ijc->nrbc", view, taps, out=part, optimize=False)
            macs += part.size * kh * kw  # one multiply-add per output value and window offset
        return macs

    return run_band


def _window_view(a: Array, kh: int, kw: int) -> Array:
    """(N, H - kh + 1, W - kw + 1, C, kh, kw): every window of a C-contiguous (N, H, W, C) array, no copy.

    The same view as sliding_window_view, whose checks cost more than the einsum of a small band;
    the ndarray constructor still refuses a view that would leave the buffer.
    """
    n, h, w, c = a.shape
    sn, sr, sc, sk = a.strides
    shape = (n, h - kh + 1, w - kw + 1, c, kh, kw)
    return _np().ndarray(shape, a.dtype, buffer=a, strides=(sn, sr, sc, sk, sr, sc))


def _inside(before: int, size: int, kernel: int, stride: int, out: int) -> tuple[int, int]:
    """The outputs [first, last) of one axis whose windows lie wholly inside the unpadded input."""
    first = min(out, -(-before // stride))
    last = max(first, min(out, (size - kernel + before) // stride + 1))
    return first, last


def _padded_part(x: Array, pads: Any, rows: tuple[int, int], cols: tuple[int, int]) -> Array:
    """Rows [r0, r1) and columns [c0, c1) of x (N, C, H, W) zero-padded by ``pads``, channels last."""
    np = _np()
    (top, _), (left, _) = pads
    n, c, h, w = x.shape
    part = np.zeros((n, rows[1] - rows[0], cols[1] - cols[0], c), dtype=x.dtype)
    src_rows = (max(rows[0] - top, 0), min(rows[1] - top, h))
    src_cols = (max(cols[0] - left, 0), min(cols[1] - left, w))
    if src_rows[1] > src_rows[0] and src_cols[1] > src_cols[0]:
        dst_r, dst_c = src_rows[0] + top - rows[0], src_cols[0] + left - cols[0]
        part[:, dst_r : dst_r + src_rows[1] - src_rows[0], dst_c : dst_c + src_cols[1] - src_cols[0]] = x[
            :, :, src_rows[0] : src_rows[1], src_cols[0] : src_cols[1]
        ].transpose(0, 2, 3, 1)
    return part


def _depthwise_offsets(
    x: Array, w: Array, pads: Any, strides: tuple[int, int], out_size: tuple[int, int], rows: int
) -> Any:
    """A band computer: a multiply and an add per window offset (see _depthwise)."""
    np = _np()
    n, c = x.shape[:2]
    _, _, kh, kw = w.shape
    (sh, sw), (_, wo) = strides, out_size
    phases = _phases(x, pads, sh, sw)
    taps = np.repeat(w.reshape(c, kh * kw).T[:, None, :], wo, axis=1)  # (kh·kw, wo, C)
    scratch = np.empty((n, rows, wo, c), dtype=np.result_type(x, w))

    def run_band(top: int, out: Array) -> int:
        band = out.shape[1]
        tmp = scratch[:, :band]
        macs = 0
        for i in range(kh):
            for j in range(kw):
                phase = phases[(i % sh, j % sw)]
                tap = phase[:, top + i // sh : top + i // sh + band, j // sw : j // sw + wo, :]
                np.multiply(tap, taps[i * kw + j], out=tmp if i or j else out)
                if i or j:
                    out += tmp
                macs += out.size  # one multiply-add per output value and window offset
        return macs

    return run_band


@register
@dataclass(frozen=True)
class Conv2d(Operator):
    """2-D convolution: standard, grouped, depthwise (groups = in) or pointwise."""

    op_name: ClassVar[str] = "conv2d"
    out: Value = attr(CHANNELS, doc="output channels")
    k: Any = attr(PAIR, doc="kernel size, or [kh, kw]")
    stride: Any = attr(PAIR, 1)
    pad: Any = attr(PAD, 0, doc="padding per side, [ph, pw], 'same' (TensorFlow) or 'valid'")
    groups: Value = attr(EXPR, 1, doc="1, a divisor of both widths, or `in` for depthwise")
    bias: bool = attr(FLAG, True)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = _spatial(inputs[0], "conv2d")
        _positive(self.out, "out")
        _positive(self.groups, "groups")
        kh, kw = _pair(self.k)
        sh, sw = _pair(self.stride)
        for v, what in ((kh, "k"), (kw, "k"), (sh, "stride"), (sw, "stride")):
            _positive(v, what)
        if _known(c, self.groups) and c % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {c} input channels")
        if _known(self.out, self.groups) and self.out % self.groups:
            raise ShapeError(f"groups {self.groups} does not divide the {self.out} output channels")
        ph, pw = _pads(self.pad)
        ho = _window_out("conv2d", h, kh, sh, ph, False, "height")
        wo = _window_out("conv2d", w, kw, sw, pw, False, "width")
        return (self.out, ho, wo)

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        c = inputs[0][0]
        kh, kw = _pair(self.k)
        arrays = {"weight": WeightArray(WEIGHT, (self.out, intmath.floor_div(c, self.groups), kh, kw))}
        if self.bias:
            arrays["bias"] = WeightArray(BIAS, (self.out,))
        return arrays

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        kh, kw = _pair(self.k)
        per_output = intmath.floor_div(inputs[0][0], self.groups) * kh * kw
        return product(output) * per_output

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) if self.bias else 0

    runs_activation: ClassVar[bool] = True

    def kernel(
        self, inputs: list[Array], weights: dict[str, Array], activation: Operator | None = None
    ) -> tuple[Array, int]:
        """im2col on strided views and one BLAS matmul per group; depthwise as k·k multiply-adds.

        The bias and ``activation`` run as the epilogue: on each band of a depthwise output while
        it is in cache, else on the product.
        """
        np = _np()
        x = inputs[0]
        w = weights["weight"]
        epilogue = Epilogue(weights.get("bias"), activation)
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        groups = c // cg
        og = o // groups
        sh, sw = _ints(*_pair(self.stride))
        pad_h, pad_w = _pads(self.pad)
        ho, wo = _windows_out(pad_h, h, kh, sh), _windows_out(pad_w, wd, kw, sw)
        pads = (_pad_amounts(pad_h, h, kh, sh, ho), _pad_amounts(pad_w, wd, kw, sw, wo))
        if cg == 1:  # depthwise, times a channel multiplier og
            x = np.repeat(x, og, axis=1) if og > 1 else x
            return _depthwise(x, w, pads, (sh, sw), (ho, wo), epilogue)
        if groups == 1 and kh == kw == sh == sw == 1 and not any(pads[0] + pads[1]) and _channels_last(x):
            # pointwise on a channels-last input: (N·H·W, C) x (C, out), and the output stays channels-last
            y = x.transpose(0, 2, 3, 1).reshape(-1, c) @ w.reshape(o, c).T
            epilogue(y, channel_axis=1)
            return y.reshape(n, h, wd, o).transpose(0, 3, 1, 2), (n * h * wd) * c * o
        xp = _padded(x, pads)
        if kh == kw == 1:
            cols = _offset(xp, 0, 0, sh, sw, ho, wo).reshape(n, groups, cg, ho * wo)
        else:
            # (N, C, ho, wo, kh, kw) view -> (N, groups, cg·kh·kw, ho·wo) columns (one copy)
            view = _windows(xp, kh, kw, sh, sw, ho, wo).transpose(0, 1, 4, 5, 2, 3)
            cols = view.reshape(n, groups, cg * kh * kw, ho * wo)
        mats = w.reshape(groups, og, cg * kh * kw)
        y = np.matmul(mats, cols).reshape(n, o, ho, wo)  # (og, K) x (K, ho·wo) per image and group
        epilogue(y, channel_axis=1)
        return y, n * groups * og * (cg * kh * kw) * (ho * wo)

    def type_label(self, inputs: list[Shape]) -> str:
        kh, kw = _pair(self.k)
        size = f"{kh}x{kw}"
        c = inputs[0][0]
        if self.groups == 1 or (_known(self.groups) and self.groups == 1):
            return f"conv{size}"
        if self.groups == c and self.out == c:
            return f"conv_dw{size}"
        return f"conv{size}_grouped"


@register
@dataclass(frozen=True)
class Linear(Operator):
    """Fully connected layer; a (C, H, W) input is flattened first, as Keras's Dense after Flatten."""

    op_name: ClassVar[str] = "linear"
    out: Value = attr(CHANNELS, doc="output features")
    bias: bool = attr(FLAG, True)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _positive(self.out, "out")
        return (self.out,)

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        arrays = {"weight": WeightArray(WEIGHT, (self.out, product(inputs[0])))}
        if self.bias:
            arrays["bias"] = WeightArray(BIAS, (self.out,))
        return arrays

    def macs(self, inputs: list[Shape], output: Shape) -> Value:
        return self.out * product(inputs[0])

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return self.out if self.bias else 0

    runs_activation: ClassVar[bool] = True

    def kernel(
        self, inputs: list[Array], weights: dict[str, Array], activation: Operator | None = None
    ) -> tuple[Array, int]:
        x = inputs[0]
        n = x.shape[0]
        flat = x.reshape(n, -1)
        w = weights["weight"]  # (out, features)
        y = flat @ w.T  # (N, F) x (F, out)
        Epilogue(weights.get("bias"), activation)(y, channel_axis=1)
        return y, n * flat.shape[1] * w.shape[0]

    def type_label(self, inputs: list[Shape]) -> str:
        return "fc"


@register
@dataclass(frozen=True)
class BatchNorm(Operator):
    """Batch normalisation over channels: γ, β learned; running mean and variance stored."""

    op_name: ClassVar[str] = "batchnorm"
    other_ops_per_element: ClassVar[int] = 2  # one multiply and one add per element at inference
    eps: ClassVar[float] = 1e-5  # PyTorch's and ONNX's default

    def weights(self, inputs: list[Shape]) -> dict[str, WeightArray]:
        c = (inputs[0][0],)
        return {
            "gamma": WeightArray(NORM_AFFINE, c),
            "beta": WeightArray(NORM_AFFINE, c),
            "running_mean": WeightArray(NORM_STATS, c),
            "running_var": WeightArray(NORM_STATS, c),
        }

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Inference: (x - running_mean) / sqrt(running_var + eps) · gamma + beta, per channel."""
        return self.kernel_in_place(inputs, weights, overwrite=False)

    in_place: ClassVar[bool] = True

    def kernel_in_place(self, inputs: list[Array], weights: dict[str, Array], overwrite: bool) -> tuple[Array, int]:
        np = _np()
        x = inputs[0]
        scale = weights["gamma"] / np.sqrt(weights["running_var"] + np.float32(self.eps))
        shift = weights["beta"] - weights["running_mean"] * scale
        per_channel = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        y = np.multiply(x, scale.reshape(per_channel), out=x if overwrite else None)
        y += shift.reshape(per_channel)
        return y, 0


@register
@dataclass(frozen=True)
class ReLU(Operator):
    op_name: ClassVar[str] = "relu"
    other_ops_per_element: ClassVar[int] = 1

    in_place: ClassVar[bool] = True
    fusable_activation: ClassVar[bool] = True

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return self.kernel_in_place(inputs, weights, overwrite=False)

    def kernel_in_place(self, inputs: list[Array], weights: dict[str, Array], overwrite: bool) -> tuple[Array, int]:
        return _np().maximum(inputs[0], 0, out=inputs[0] if overwrite else None), 0


@register
@dataclass(frozen=True)
class ReLU6(Operator):
    op_name: ClassVar[str] = "relu6"
    other_ops_per_element: ClassVar[int] = 2  # clamp below and above

    in_place: ClassVar[bool] = True
    fusable_activation: ClassVar[bool] = True

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return self.kernel_in_place(inputs, weights, overwrite=False)

    def kernel_in_place(self, inputs: list[Array], weights: dict[str, Array], overwrite: bool) -> tuple[Array, int]:
        return _np().clip(inputs[0], 0, 6, out=inputs[0] if overwrite else None), 0


@register
@dataclass(frozen=True)
class HardSwish(Operator):
    """x · relu6(x + 3) / 6 (MobileNetV3)."""

    op_name: ClassVar[str] = "hard_swish"
    other_ops_per_element: ClassVar[int] = 5  # add, two clamps, multiply, divide

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        x = inputs[0]
        gate = _np().clip(x + 3, 0, 6)
        gate /= 6
        gate *= x
        return gate, 0


@register
@dataclass(frozen=True)
class HardSigmoid(Operator):
    """relu6(x + 3) / 6 (MobileNetV3's squeeze-excite gate)."""

    op_name: ClassVar[str] = "hard_sigmoid"
    other_ops_per_element: ClassVar[int] = 4  # add, two clamps, divide

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        gate = _np().clip(inputs[0] + 3, 0, 6)
        gate /= 6
        return gate, 0


@register
@dataclass(frozen=True)
class Sigmoid(Operator):
    op_name: ClassVar[str] = "sigmoid"
    other_ops_per_element: ClassVar[int] = 3  # exp, add, divide

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = _np()
        x = inputs[0]
        e = np.exp(-np.abs(x))  # never overflows
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False), 0


@register
@dataclass(frozen=True)
class Dropout(Operator):
    """Identity at inference; kept so layer lists read like the reference implementation."""

    op_name: ClassVar[str] = "dropout"
    p: Any = attr(NUMBER, 0.5)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return inputs[0], 0


@register
@dataclass(frozen=True)
class Softmax(Operator):
    op_name: ClassVar[str] = "softmax"
    other_ops_per_element: ClassVar[int] = 3  # exp, sum, divide

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Over the channel (feature) axis, shifted by the maximum so that exp never overflows."""
        np = _np()
        x = inputs[0]
        e = np.exp(x - x.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        return e, 0


@register
@dataclass(frozen=True)
class Flatten(Operator):
    op_name: ClassVar[str] = "flatten"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (product(inputs[0]),)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        x = inputs[0]
        return x.reshape(x.shape[0], -1), 0


@dataclass(frozen=True)
class _Pool(Operator):
    k: Any = attr(PAIR, doc="window size, or [kh, kw]")
    stride: Any = attr(PAIR, None, doc="defaults to the window size")
    pad: Any = attr(PAD, 0)
    ceil_mode: bool = attr(FLAG, False, doc="PyTorch's ceil_mode: keep a partial last window")

    def _strides(self) -> tuple[Value, Value]:
        return _pair(self.stride if self.stride is not None else self.k)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, h, w = _spatial(inputs[0], self.op_name)
        kh, kw = _pair(self.k)
        sh, sw = self._strides()
        for v, what in ((kh, "k"), (kw, "k"), (sh, "stride"), (sw, "stride")):
            _positive(v, what)
        ph, pw = _pads(self.pad)
        ho = _window_out(self.op_name, h, kh, sh, ph, self.ceil_mode, "height")
        wo = _window_out(self.op_name, w, kw, sw, pw, self.ceil_mode, "width")
        return (c, ho, wo)

    def _window(self) -> Value:
        kh, kw = _pair(self.k)
        return kh * kw

    def _reduce(self, x: Array, fill: float, combine: Any) -> tuple[Array, tuple[int, ...], tuple[Any, Any]]:
        """Combine the k·k window offsets (strided views of the padded input, k·k vector ops).

        Returns the combined array, (kh, kw, sh, sw, ho, wo) and the (height, width) padding spec.
        """
        h, w = x.shape[2:]
        kh, kw = _ints(*_pair(self.k))
        sh, sw = _ints(*self._strides())
        pad_h, pad_w = _pads(self.pad)
        ho, wo = _windows_out(pad_h, h, kh, sh, self.ceil_mode), _windows_out(pad_w, w, kw, sw, self.ceil_mode)
        xp = _padded(x, (_pad_amounts(pad_h, h, kh, sh, ho), _pad_amounts(pad_w, w, kw, sw, wo)), fill)
        y = _offset(xp, 0, 0, sh, sw, ho, wo).copy()
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    combine(y, _offset(xp, i, j, sh, sw, ho, wo), out=y)
        return y, (kh, kw, sh, sw, ho, wo), (pad_h, pad_w)


@register
@dataclass(frozen=True)
class MaxPool(_Pool):
    op_name: ClassVar[str] = "max_pool"

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * (self._window() - 1)  # comparisons

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Padding never wins: it is -inf, as in PyTorch (and TensorFlow's 'SAME')."""
        np = _np()
        y, _, _ = self._reduce(inputs[0], -np.inf, np.maximum)
        return y, 0


def _divisors(pad: Any, size: int, kernel: int, stride: int, out: int) -> Array:
    """How many inputs each window of one axis averages.

    Explicit padding counts the padding (PyTorch's count_include_pad=True) but not what a ceil_mode
    window reaches beyond it; TensorFlow's 'SAME' counts only real inputs.
    """
    np = _np()
    before = _pad_amounts(pad, size, kernel, stride, out)[0]
    start = np.arange(out) * stride - before
    if pad == "same":
        return np.minimum(start + kernel, size) - np.maximum(start, 0)
    return np.minimum(start + kernel, size + before) - start


@register
@dataclass(frozen=True)
class AvgPool(_Pool):
    op_name: ClassVar[str] = "avg_pool"

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output) * self._window()  # adds and one divide per output

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        np = _np()
        x = inputs[0]
        y, (kh, kw, sh, sw, ho, wo), (pad_h, pad_w) = self._reduce(x, 0.0, np.add)
        rows = _divisors(pad_h, x.shape[2], kh, sh, ho)
        cols = _divisors(pad_w, x.shape[3], kw, sw, wo)
        y /= np.outer(rows, cols).astype(y.dtype)
        return y, 0


@register
@dataclass(frozen=True)
class GlobalAvgPool(Operator):
    op_name: ClassVar[str] = "global_avg_pool"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, _, _ = _spatial(inputs[0], self.op_name)
        return (c, 1, 1)

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(inputs[0])

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return inputs[0].mean(axis=(2, 3), keepdims=True), 0


def adaptive_bounds(size: Value, out: int) -> list[tuple[Value, Value]]:
    """PyTorch's adaptive pooling windows: [floor(i·size/out), ceil((i+1)·size/out))."""
    return [(intmath.floor_div(i * size, out), intmath.ceil_div((i + 1) * size, out)) for i in range(out)]


@register
@dataclass(frozen=True)
class AdaptiveAvgPool(Operator):
    """Average pooling to a fixed output size, whatever the input (torchvision's AlexNet head)."""

    op_name: ClassVar[str] = "adaptive_avg_pool"
    size: Any = attr(PAIR, doc="output size, or [h, w]")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        c, _, _ = _spatial(inputs[0], self.op_name)
        oh, ow = _pair(self.size)
        for v in (oh, ow):
            if not (intmath.is_number(v) and v == int(v) and v >= 1):
                raise ShapeError(f"size must be a positive integer constant, got {v}")
        return (c, oh, ow)

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        c, h, w = inputs[0]
        oh, ow = _pair(self.size)
        rows = sum((end - start for start, end in adaptive_bounds(h, int(oh))), 0)
        cols = sum((end - start for start, end in adaptive_bounds(w, int(ow))), 0)
        return c * rows * cols

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """Window sums from a summed-area table (float64), indexed by PyTorch's window bounds."""
        np = _np()
        x = inputs[0]
        n, c, h, w = x.shape
        oh, ow = _ints(*_pair(self.size))
        (h0, h1), (w0, w1) = (np.array(adaptive_bounds(h, oh)).T, np.array(adaptive_bounds(w, ow)).T)
        table = np.zeros((n, c, h + 1, w + 1))
        np.cumsum(x, axis=2, dtype=np.float64, out=table[:, :, 1:, 1:])
        np.cumsum(table[:, :, 1:, 1:], axis=3, out=table[:, :, 1:, 1:])
        r0, r1, c0, c1 = h0[:, None], h1[:, None], w0[None, :], w1[None, :]
        sums = table[:, :, r1, c1] - table[:, :, r0, c1] - table[:, :, r1, c0] + table[:, :, r0, c0]
        return (sums / ((r1 - r0) * (c1 - c0))).astype(x.dtype), 0


def _merge_check(op: str, inputs: list[Shape], spatial_only: bool) -> None:
    first = inputs[0]
    for other in inputs[1:]:
        if len(other) != len(first):
            raise ShapeError(f"{op} inputs differ in rank: {_fmt(first)} and {_fmt(other)}")
        a, b = (first[1:], other[1:]) if spatial_only else (first, other)
        if _known(*a, *b) and tuple(a) != tuple(b):
            raise ShapeError(f"{op} inputs have mismatched shapes {_fmt(first)} and {_fmt(other)}")


@register
@dataclass(frozen=True)
class Concat(Operator):
    """Concatenation along channels (the fire module's merge)."""

    op_name: ClassVar[str] = "concat"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 64

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _merge_check("concat", inputs, spatial_only=True)
        channels = inputs[0][0]
        for shape in inputs[1:]:
            channels = channels + shape[0]
        return (channels, *inputs[0][1:])

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        return _np().concatenate(inputs, axis=1), 0


@register
@dataclass(frozen=True)
class Mul(Operator):
    """Elementwise product; the second input may be a per-channel (C, 1, 1) gate (squeeze-excite)."""

    op_name: ClassVar[str] = "mul"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2

    def output_shape(self, inputs: list[Shape]) -> Shape:
        data, gate = inputs
        if len(gate) != len(data):
            raise ShapeError(f"mul inputs differ in rank: {_fmt(data)} and {_fmt(gate)}")
        for d, g in zip(data, gate, strict=True):
            if _known(d, g) and g != 1 and g != d:
                raise ShapeError(f"mul cannot broadcast {_fmt(gate)} onto {_fmt(data)}")
        return data

    def other_ops(self, inputs: list[Shape], output: Shape) -> Value:
        return product(output)

    def kernel(self, inputs: list[Array], weights: dict[str, Array]) -> tuple[Array, int]:
        """An elementwise scaling (the gate broadcasts), not a product of operands: no MACs."""
        return inputs[0] * inputs[1], 0


@register
@dataclass(frozen=True)
class Add(Operator):
    """Elementwise sum of equal shapes (residual connections)."""

    op_name: ClassVar[str] = "add"
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
