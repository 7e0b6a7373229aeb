"""The NumPy executor: every kernel against explicit loops, and `costmodel verify` / `costmodel run`.

The references below are written the slow, obvious way (a loop per output element and per window
offset, PyTorch's and TensorFlow's padding rules spelled out), and count the multiplies they perform.
Each kernel must give the same numbers (float32 tolerance), the shape its operator's formula says, and
the MAC count of the loops, which must also equal the operator's MAC formula.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from costmodel import executor
from costmodel import verify as verification
from costmodel.cli import main
from costmodel.loading import load_model
from costmodel.ops import REGISTRY, Operator
from costmodel.ops.conv import Conv2d
from costmodel.resources import builtin_names

ROOT = Path(__file__).resolve().parent.parent
RTOL, ATOL = 1e-5, 1e-5


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# -- explicit-loop references ---------------------------------------------------------------------------


def axis_pads(pad: Any, size: int, k: int, s: int, ceil_mode: bool = False) -> tuple[int, int, int]:
    """(output size, padding before, padding after) of one axis, spelled out as the frameworks do."""
    if pad == "same":  # TensorFlow: ceil(size / s) outputs, the odd padding pixel after
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return out, total // 2, total - total // 2
    p = 0 if pad == "valid" else pad
    if ceil_mode:  # PyTorch: ceil, but no window may start in the right padding
        out = math.ceil((size + 2 * p - k) / s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
    else:
        out = (size + 2 * p - k) // s + 1
    return out, p, p


def pair(v: Any) -> tuple[Any, Any]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def ref_conv2d(op: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, int]:
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // (c // cg)
    (sh, sw), (ph, pw) = pair(op.stride), pair(op.pad)
    ho, top, _ = axis_pads(ph, h, kh, sh)
    wo, left, _ = axis_pads(pw, wd, kw, sw)
    y = np.zeros((n, o, ho, wo), np.float64)
    multiplies = 0
    for i in range(n):
        for oc in range(o):
            first = (oc // og) * cg
            for oy in range(ho):
                for ox in range(wo):
                    acc = 0.0
                    for ci in range(cg):
                        for dy in range(kh):
                            for dx in range(kw):
                                iy, ix = oy * sh + dy - top, ox * sw + dx - left
                                value = x[i, first + ci, iy, ix] if 0 <= iy < h and 0 <= ix < wd else 0.0
                                acc += float(value) * float(w[oc, ci, dy, dx])  # padding is multiplied too
                                multiplies += 1
                    y[i, oc, oy, ox] = acc + (float(b[oc]) if b is not None else 0.0)
    return y, multiplies


def ref_linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, int]:
    flat = x.reshape(x.shape[0], -1)
    y = np.zeros((x.shape[0], w.shape[0]))
    multiplies = 0
    for i in range(flat.shape[0]):
        for o in range(w.shape[0]):
            acc = 0.0
            for f in range(flat.shape[1]):
                acc += float(flat[i, f]) * float(w[o, f])
                multiplies += 1
            y[i, o] = acc + (float(b[o]) if b is not None else 0.0)
    return y, multiplies


def ref_pool(op: Any, x: np.ndarray, kind: str) -> np.ndarray:
    """PyTorch's max_pool2d / avg_pool2d (count_include_pad=True); TensorFlow's for 'same'."""
    n, c, h, wd = x.shape
    (kh, kw), (ph, pw) = pair(op.k), pair(op.pad)
    sh, sw = pair(op.stride if op.stride is not None else op.k)
    ho, top, _ = axis_pads(ph, h, kh, sh, op.ceil_mode)
    wo, left, _ = axis_pads(pw, wd, kw, sw, op.ceil_mode)
    y = np.zeros((n, c, ho, wo))
    for i in range(n):
        for ch in range(c):
            for oy in range(ho):
                for ox in range(wo):
                    y0, x0 = oy * sh - top, ox * sw - left
                    if ph == "same":
                        y1, x1 = min(y0 + kh, h), min(x0 + kw, wd)
                    else:  # the window may cover padding, not what ceil_mode reaches beyond it
                        y1, x1 = min(y0 + kh, h + top), min(x0 + kw, wd + left)
                    divisor = (y1 - max(y0, 0)) * (x1 - max(x0, 0)) if ph == "same" else (y1 - y0) * (x1 - x0)
                    values = [
                        float(x[i, ch, yy, xx])
                        for yy in range(max(y0, 0), min(y1, h))
                        for xx in range(max(x0, 0), min(x1, wd))
                    ]
                    y[i, ch, oy, ox] = max(values) if kind == "max" else sum(values) / divisor
    return y


def ref_adaptive(op: Any, x: np.ndarray) -> np.ndarray:
    n, c, h, wd = x.shape
    oh, ow = pair(op.size)
    y = np.zeros((n, c, oh, ow))
    for i in range(n):
        for ch in range(c):
            for oy in range(oh):
                for ox in range(ow):
                    y0, y1 = math.floor(oy * h / oh), math.ceil((oy + 1) * h / oh)
                    x0, x1 = math.floor(ox * wd / ow), math.ceil((ox + 1) * wd / ow)
                    y[i, ch, oy, ox] = x[i, ch, y0:y1, x0:x1].astype(np.float64).mean()
    return y


def elementwise(fn: Any) -> Any:
    def apply(x: np.ndarray) -> np.ndarray:
        return np.vectorize(lambda v: fn(float(v)))(x)

    return apply


def ref_softmax(x: np.ndarray) -> np.ndarray:
    y = np.zeros(x.shape)
    for index in np.ndindex(x.shape[:1] + x.shape[2:]):
        i, rest = index[0], index[1:]
        column = [float(x[(i, ch, *rest)]) for ch in range(x.shape[1])]
        top = max(column)
        total = sum(math.exp(v - top) for v in column)
        for ch, v in enumerate(column):
            y[(i, ch, *rest)] = math.exp(v - top) / total
    return y


def ref_batchnorm(x: np.ndarray, arrays: dict[str, np.ndarray], eps: float = 1e-5) -> np.ndarray:
    y = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        ch = index[1]
        normed = (float(x[index]) - float(arrays["running_mean"][ch])) / math.sqrt(
            float(arrays["running_var"][ch]) + eps
        )
        y[index] = normed * float(arrays["gamma"][ch]) + float(arrays["beta"][ch])
    return y


def relu6(v: float) -> float:
    return min(max(v, 0.0), 6.0)


# -- the cases ------------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    op: Operator
    inputs: list[tuple[int, ...]]  # batch shapes
    reference: Any  # (op, inputs, weights) -> (output, multiplies)
    channels_last: bool = False  # feed the first input laid out (N, H, W, C) in memory

    @property
    def name(self) -> str:
        return self.op.op_name


def conv_case(name: str, shape: tuple[int, ...], channels_last: bool = False, **attrs: Any) -> Case:
    return Case(
        name,
        REGISTRY["conv2d"](**attrs),
        [shape],
        lambda op, xs, w: ref_conv2d(op, xs[0], w["weight"], w.get("bias")),
        channels_last,
    )


def pool_case(name: str, kind: str, shape: tuple[int, ...], **attrs: Any) -> Case:
    op = REGISTRY[f"{kind}_pool"](**attrs)
    return Case(name, op, [shape], lambda op, xs, w: (ref_pool(op, xs[0], kind), 0))


def ref_layernorm(x: np.ndarray, w: dict[str, np.ndarray], eps: float) -> np.ndarray:
    """Over the channels (axis 1) at each position, in float64 by loops over positions."""
    x64 = np.moveaxis(x.astype(np.float64), 1, -1)
    out = np.empty_like(x64)
    for index in np.ndindex(x64.shape[:-1]):
        v = x64[index]
        out[index] = (v - v.mean()) / math.sqrt(((v - v.mean()) ** 2).mean() + eps) * w["gamma"] + w["beta"]
    return np.moveaxis(out, -1, 1)


def ref_matmul(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """(N, H, M, K) x (N, H, K, P) by loops, counting the multiplies."""
    n, h, m, k = a.shape
    p = b.shape[-1]
    y = np.zeros((n, h, m, p))
    multiplies = 0
    for index in np.ndindex(n, h, m, p):
        i, head, row, col = index
        for j in range(k):
            y[index] += float(a[i, head, row, j]) * float(b[i, head, j, col])
            multiplies += 1
    return y, multiplies


def ref_transpose(x: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    """Output position (n, i_0, i_1, ...) holds input position (n, ...) with i_a at axis perm[a]."""
    shape = (x.shape[0], *(x.shape[p + 1] for p in perm))
    y = np.zeros(shape)
    for index in np.ndindex(shape):
        source = [index[0], *[0] * len(perm)]
        for a, p in enumerate(perm):
            source[p + 1] = index[a + 1]
        y[index] = x[tuple(source)]
    return y


def ref_token_linear(x: np.ndarray, w: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """Each token's features times the weight, by loops."""
    n, t, f = x.shape
    out = w["weight"].shape[0]
    y = np.zeros((n, t, out))
    multiplies = 0
    for i, token, o in np.ndindex(n, t, out):
        y[i, token, o] = float(w["bias"][o])
        for j in range(f):
            y[i, token, o] += float(x[i, token, j]) * float(w["weight"][o, j])
            multiplies += 1
    return y, multiplies


def unary(name: str, op_name: str, fn: Any, shape: tuple[int, ...] = (2, 3, 4, 5), **attrs: Any) -> Case:
    return Case(name, REGISTRY[op_name](**attrs), [shape], lambda op, xs, w: (fn(xs[0]), 0))


CASES = [
    # conv2d: padding (none, symmetric, per axis, 'same' at both strides and both parities, 'valid'),
    # strides, non-square kernels, grouped, depthwise (any stride, kernel and padding), channel multiplier, bias
    conv_case("conv 3x3 no pad", (2, 3, 6, 7), out=4, k=3),
    conv_case("conv 3x3 pad 1 stride 2 no bias", (1, 3, 7, 6), out=2, k=3, stride=2, pad=1, bias=False),
    conv_case("conv 3x1 stride (2,1) pad (1,0)", (1, 2, 7, 5), out=3, k=(3, 1), stride=(2, 1), pad=(1, 0)),
    conv_case("conv 5x5 pad 2 stride 3", (1, 2, 9, 8), out=2, k=5, stride=3, pad=2),
    conv_case("conv 3x3 same stride 1", (1, 2, 6, 5), out=2, k=3, pad="same"),
    conv_case("conv 3x3 same stride 2 even", (1, 2, 8, 8), out=3, k=3, stride=2, pad="same", bias=False),
    conv_case("conv 3x3 same stride 2 odd", (1, 2, 7, 9), out=3, k=3, stride=2, pad="same"),
    conv_case("conv 2x2 same stride 1", (1, 2, 5, 5), out=2, k=2, pad="same"),
    conv_case("conv 3x3 valid stride 2", (1, 2, 8, 7), out=2, k=3, stride=2, pad="valid"),
    conv_case("conv 1x1", (2, 5, 4, 3), out=3, k=1),
    conv_case("conv 1x1 stride 2", (1, 4, 5, 5), out=3, k=1, stride=2, bias=False),
    conv_case("conv 1x1 channels-last input", (2, 5, 4, 3), channels_last=True, out=3, k=1),
    conv_case("conv 1x1 pad 1", (1, 2, 3, 3), out=2, k=1, pad=1),
    conv_case("conv grouped 2", (1, 4, 5, 5), out=6, k=3, pad=1, groups=2),
    conv_case("conv grouped 1x1 stride 2", (1, 6, 5, 4), out=3, k=1, stride=2, groups=3),
    conv_case("depthwise 3x3 pad 1, batch of 2", (2, 3, 6, 5), out=3, k=3, pad=1, groups=3),
    conv_case("depthwise stride 2 same", (1, 4, 7, 8), out=4, k=3, stride=2, pad="same", groups=4, bias=False),
    conv_case("depthwise 5x5 pad 2 stride 2", (1, 2, 9, 9), out=2, k=5, stride=2, pad=2, groups=2),
    conv_case("depthwise channels-last input", (1, 3, 6, 6), channels_last=True, out=3, k=3, pad=1, groups=3),
    conv_case("depthwise larger map", (1, 2, 34, 33), out=2, k=3, pad=1, groups=2),
    conv_case("depthwise larger map stride 2 same", (1, 2, 66, 65), out=2, k=3, stride=2, pad="same", groups=2),
    conv_case("depthwise 5x5 stride 3 same, odd map", (1, 3, 11, 10), out=3, k=5, stride=3, pad="same", groups=3),
    conv_case("depthwise 3x2 stride (1, 2) valid", (1, 2, 7, 9), out=2, k=(3, 2), stride=(1, 2), pad="valid", groups=2),
    conv_case("depthwise multiplier 2", (1, 2, 5, 5), out=4, k=3, pad=1, groups=2),
    conv_case("single input channel", (1, 1, 5, 5), out=3, k=3),
    Case(
        "linear on (N, F)",
        REGISTRY["linear"](out=4),
        [(3, 7)],
        lambda op, xs, w: ref_linear(xs[0], w["weight"], w.get("bias")),
    ),
    Case(
        "linear flattens (N, C, H, W), no bias",
        REGISTRY["linear"](out=3, bias=False),
        [(2, 2, 3, 2)],
        lambda op, xs, w: ref_linear(xs[0], w["weight"], None),
    ),
    Case("batchnorm", REGISTRY["batchnorm"](), [(2, 3, 4, 4)], lambda op, xs, w: (ref_batchnorm(xs[0], w), 0)),
    Case("batchnorm on (N, F)", REGISTRY["batchnorm"](), [(3, 5)], lambda op, xs, w: (ref_batchnorm(xs[0], w), 0)),
    Case(
        "batchnorm with eps 1e-3 (MaxViT)",
        REGISTRY["batchnorm"](eps=1e-3),
        [(2, 3, 2, 2)],
        lambda op, xs, w: (ref_batchnorm(xs[0], w, 1e-3), 0),
    ),
    unary("tanh", "tanh", elementwise(math.tanh)),
    Case(
        "pad the rows and columns of (H, W, C)",
        REGISTRY["pad"](bottom=1, left=2, axis=0),
        [(1, 2, 2, 3)],
        lambda op, xs, w: (
            np.array(
                [
                    [
                        [[xs[0][0, y, x - 2, c] if y < 2 and x >= 2 else 0.0 for c in range(3)] for x in range(4)]
                        for y in range(3)
                    ]
                ]
            ),
            0,
        ),
    ),
    unary("relu", "relu", elementwise(lambda v: max(v, 0.0))),
    unary("relu6", "relu6", elementwise(relu6), shape=(2, 3, 4, 4)),
    unary("hard_swish", "hard_swish", elementwise(lambda v: v * relu6(v + 3) / 6)),
    unary("hard_sigmoid", "hard_sigmoid", elementwise(lambda v: relu6(v + 3) / 6)),
    unary("sigmoid", "sigmoid", elementwise(lambda v: 1 / (1 + math.exp(-v)))),
    unary("silu", "silu", elementwise(lambda v: v / (1 + math.exp(-v)))),
    unary("gelu", "gelu", elementwise(lambda v: v * math.erfc(-v / math.sqrt(2)) / 2)),
    Case(
        "layernorm over channels",
        REGISTRY["layernorm"](eps=1e-6),
        [(2, 3, 4, 4)],
        lambda op, xs, w: (ref_layernorm(xs[0], w, 1e-6), 0),
    ),
    Case(
        "layernorm on (N, F)", REGISTRY["layernorm"](), [(3, 5)], lambda op, xs, w: (ref_layernorm(xs[0], w, 1e-5), 0)
    ),
    Case(
        "scale per channel",
        REGISTRY["scale"](),
        [(2, 3, 4, 4)],
        lambda op, xs, w: (xs[0].astype(np.float64) * w["weight"].reshape(1, -1, 1, 1), 0),
    ),
    unary(
        "gelu, tanh",
        "gelu",
        elementwise(lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))),
        tanh=True,
    ),
    unary("dropout is the identity", "dropout", lambda x: x, p=0.5),
    unary("softmax on (N, F)", "softmax", ref_softmax, shape=(3, 6)),
    unary("softmax over channels", "softmax", ref_softmax, shape=(2, 4, 2, 3)),
    unary("flatten", "flatten", lambda x: x.reshape(x.shape[0], -1)),
    pool_case("max 3/2 ceil_mode, 7 -> 3", "max", (2, 2, 7, 7), k=3, stride=2, ceil_mode=True),
    pool_case("max 3/2 ceil_mode, 8 -> 4 (partial last window)", "max", (1, 2, 8, 8), k=3, stride=2, ceil_mode=True),
    pool_case("max 3/2 floor, 8 -> 3", "max", (1, 2, 8, 9), k=3, stride=2),
    pool_case("max 3/2 pad 1", "max", (1, 2, 7, 6), k=3, stride=2, pad=1),
    pool_case(
        "max 2/2 pad 1 ceil (window in padding dropped)", "max", (1, 1, 5, 5), k=2, stride=2, pad=1, ceil_mode=True
    ),
    pool_case("max 2 default stride", "max", (1, 2, 6, 5), k=2),
    pool_case("max 3x2 window", "max", (1, 2, 7, 6), k=(3, 2), stride=(2, 1)),
    pool_case("max same", "max", (1, 2, 7, 8), k=3, stride=2, pad="same"),
    pool_case("max valid", "max", (1, 2, 7, 8), k=3, stride=2, pad="valid"),
    pool_case("avg 3/2 pad 1 counts the padding", "avg", (2, 2, 7, 7), k=3, stride=2, pad=1),
    pool_case("avg 3/2 ceil_mode (divisor stops at the input)", "avg", (1, 2, 8, 8), k=3, stride=2, ceil_mode=True),
    pool_case("max 3/2 ceil_mode, 2 -> 1 (input < window)", "max", (1, 2, 2, 2), k=3, stride=2, ceil_mode=True),
    pool_case("avg 3/2 ceil_mode, 2x3 -> 1x1 (input < window)", "avg", (1, 2, 2, 3), k=3, stride=2, ceil_mode=True),
    pool_case("avg 3/2 pad 1 ceil_mode", "avg", (1, 2, 6, 6), k=3, stride=2, pad=1, ceil_mode=True),
    pool_case(
        "avg 2/2 pad 1 ceil (window in padding dropped)", "avg", (1, 1, 5, 5), k=2, stride=2, pad=1, ceil_mode=True
    ),
    pool_case("avg 2 default stride", "avg", (1, 2, 6, 6), k=2),
    pool_case("avg same excludes the padding (TensorFlow)", "avg", (1, 2, 7, 8), k=3, stride=2, pad="same"),
    pool_case("avg valid", "avg", (1, 2, 7, 8), k=3, stride=2, pad="valid"),
    unary("global_avg_pool", "global_avg_pool", lambda x: x.astype(np.float64).mean(axis=(2, 3), keepdims=True)),
    *(
        Case(
            f"adaptive_avg_pool {shape[2]}x{shape[3]} -> {size}",
            REGISTRY["adaptive_avg_pool"](size=size),
            [shape],
            lambda op, xs, w: (ref_adaptive(op, xs[0]), 0),
        )
        for shape, size in (((2, 2, 13, 13), 6), ((1, 2, 6, 6), 6), ((1, 2, 5, 7), (3, 2)), ((1, 1, 14, 9), 4))
    ),
    Case(
        "concat of three",
        REGISTRY["concat"](),
        [(2, 1, 3, 3), (2, 2, 3, 3), (2, 3, 3, 3)],
        lambda op, xs, w: (np.concatenate(xs, axis=1), 0),
    ),
    Case("add", REGISTRY["add"](), [(2, 3, 4, 4)] * 2, lambda op, xs, w: (xs[0] + xs[1], 0)),
    Case(
        "add of three",
        REGISTRY["add"](),
        [(1, 2, 3, 3)] * 3,
        lambda op, xs, w: (xs[0].astype(np.float64) + xs[1] + xs[2], 0),
    ),
    Case(
        "mul by a (C, 1, 1) gate",
        REGISTRY["mul"](),
        [(2, 3, 4, 5), (2, 3, 1, 1)],
        lambda op, xs, w: (
            np.array(
                [
                    [[[xs[0][i, c, y, x] * xs[1][i, c, 0, 0] for x in range(5)] for y in range(4)] for c in range(3)]
                    for i in range(2)
                ]
            ),
            0,
        ),
    ),
    Case("mul elementwise", REGISTRY["mul"](), [(2, 3, 2, 2)] * 2, lambda op, xs, w: (xs[0] * xs[1], 0)),
    # channel ops: a slice of the channels, and ShuffleNet's shuffle (channel i of each group side by side)
    Case(
        "slice channels [1, 3)",
        REGISTRY["slice"](start=1, stop=3),
        [(2, 4, 3, 3)],
        lambda op, xs, w: (xs[0][:, 1:3], 0),
    ),
    Case(
        "channel_shuffle of 6 in 2 groups",
        REGISTRY["channel_shuffle"](groups=2),
        [(2, 6, 3, 2)],
        lambda op, xs, w: (xs[0][:, [0, 3, 1, 4, 2, 5]], 0),
    ),
    # resizing: nearest repeats each pixel; bilinear with corners on corners averages neighbours
    Case(
        "nearest x2",
        REGISTRY["resize"](scale=2),
        [(1, 2, 2, 3)],
        lambda op, xs, w: (xs[0].repeat(2, axis=2).repeat(2, axis=3), 0),
    ),
    Case(
        "bilinear 2x2 to 3x3, corners on corners",
        REGISTRY["resize"](size=(3, 3), bilinear=True, align_corners=True),
        [(1, 1, 2, 2)],
        lambda op, xs, w: (
            np.array(
                [
                    [
                        [
                            [a := xs[0][0, 0, 0, 0], (a + (b := xs[0][0, 0, 0, 1])) / 2, b],
                            [
                                (a + (c := xs[0][0, 0, 1, 0])) / 2,
                                (a + b + c + (d := xs[0][0, 0, 1, 1])) / 4,
                                (b + d) / 2,
                            ],
                            [c, (c + d) / 2, d],
                        ]
                    ]
                ]
            ),
            0,
        ),
    ),
    # explicit padding: each pixel of the output by hand, the pad value outside the input
    Case(
        "pad 1 above, 2 on the right, with 0.25",
        REGISTRY["pad"](top=1, right=2, value=0.25),
        [(1, 2, 3, 3)],
        lambda op, xs, w: (
            np.array(
                [
                    [
                        [[xs[0][0, c, y - 1, x] if y >= 1 and x < 3 else 0.25 for x in range(5)] for y in range(4)]
                        for c in range(2)
                    ]
                ]
            ),
            0,
        ),
    ),
]


CASES += [
    Case(
        "add_constant broadcast over windows",
        REGISTRY["add_constant"](shape=(1, 3, 4)),
        [(2, 5, 3, 4)],
        lambda op, xs, w: (xs[0].astype(np.float64) + w["value"][None], 0),
    ),
    Case(
        "mul_constant per head",
        REGISTRY["mul_constant"](shape=(3, 1, 1)),
        [(2, 5, 3, 2, 2)],
        lambda op, xs, w: (xs[0].astype(np.float64) * w["value"][None], 0),
    ),
    unary(
        "l2_normalize the last axis",
        "l2_normalize",
        lambda x: np.array(
            [
                [[[v / max(math.sqrt(sum(float(u) ** 2 for u in row)), 1e-12) for v in row] for row in m] for m in i]
                for i in x
            ]
        ),
        axis=2,
    ),
    unary("slice every other row from 1", "slice", lambda x: x[:, :, 1:4:2], start=1, stop=4, axis=1, step=2),
    # a transformer's tokens: (tokens, features), attention's (heads, tokens, tokens)
    Case(
        "reshape (row-major order)",
        REGISTRY["reshape"](shape=(12, 5)),
        [(2, 3, 4, 5)],
        lambda op, xs, w: (np.array([list(xs[0][i].flat) for i in range(2)]).reshape(2, 12, 5), 0),
    ),
    unary("transpose 3 axes", "transpose", lambda x: ref_transpose(x, (2, 0, 1)), perm=(2, 0, 1)),
    Case(
        "matmul of two activations, per head",
        REGISTRY["matmul"](),
        [(2, 3, 4, 5), (2, 3, 5, 2)],
        lambda op, xs, w: ref_matmul(xs[0], xs[1]),
    ),
    unary("select the first token", "select", lambda x: x[:, 0], shape=(2, 5, 4), axis=0),
    unary("select along the last axis", "select", lambda x: x[:, :, :, 3], shape=(2, 3, 4, 5), axis=2, index=3),
    Case(
        "class_token in front",
        REGISTRY["class_token"](),
        [(2, 4, 3)],
        lambda op, xs, w: (np.array([[w["token"][0], *xs[0][i]] for i in range(2)]), 0),
    ),
    Case(
        "position_embedding",
        REGISTRY["position_embedding"](),
        [(2, 4, 3)],
        lambda op, xs, w: (xs[0].astype(np.float64) + w["embedding"], 0),
    ),
    unary("scale_by", "scale_by", elementwise(lambda v: v * 0.125), factor=0.125),
    Case(
        "linear per token",
        REGISTRY["linear"](out=3, flatten=False),
        [(2, 4, 5)],
        lambda op, xs, w: ref_token_linear(xs[0], w),
    ),
    Case(
        "layernorm over the last axis",
        REGISTRY["layernorm"](axis=1),
        [(2, 4, 6)],
        lambda op, xs, w: (np.moveaxis(ref_layernorm(np.moveaxis(xs[0], 2, 1), w, 1e-5), 1, 2), 0),
    ),
    unary(
        "softmax over the last axis",
        "softmax",
        lambda x: np.moveaxis(ref_softmax(np.moveaxis(x, 3, 1)), 1, 3),
        axis=2,
    ),
    Case(
        "concat along the last axis",
        REGISTRY["concat"](axis=1),
        [(2, 3, 2), (2, 3, 4)],
        lambda op, xs, w: (np.array([[[*xs[0][i, t], *xs[1][i, t]] for t in range(3)] for i in range(2)]), 0),
    ),
]


def test_every_operator_has_a_kernel_case() -> None:
    assert {case.name for case in CASES} == set(REGISTRY)


def case_arrays(case: Case) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    inputs = [rand(*shape, seed=i) for i, shape in enumerate(case.inputs)]
    if case.channels_last:
        inputs[0] = np.ascontiguousarray(inputs[0].transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    declared = case.op.weights([shape[1:] for shape in case.inputs])
    rng = np.random.default_rng(7)
    weights = {
        name: (rng.uniform(0.5, 1.5, a.shape) if name == "running_var" else rng.standard_normal(a.shape)).astype(
            np.float32
        )
        for name, a in declared.items()
    }
    return inputs, weights


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_kernel_equals_the_explicit_loops(case: Case) -> None:
    inputs, weights = case_arrays(case)
    y, macs = case.op.kernel(inputs, weights)
    expected, multiplies = case.reference(case.op, inputs, weights)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)
    # the shape rule and the MAC formula agree with what ran (MACs for the whole batch)
    shapes = [shape[1:] for shape in case.inputs]
    output = case.op.output_shape(shapes)
    assert y.shape[1:] == tuple(output)
    assert macs == multiplies
    assert macs == case.inputs[0][0] * case.op.macs(shapes, output)


def test_kernels_make_arrays_of_their_own() -> None:
    """A kernel's output never shares memory with an input (but dropout's, which is its input): the
    executor lets an in-place kernel write over an output that nothing else reads, which must not reach
    an array another layer still reads (a transpose by the identity, a reshape, a slice)."""
    for case in CASES:
        if case.op.passes_input:
            continue
        inputs, weights = case_arrays(case)
        y, _ = case.op.kernel(inputs, weights)
        assert not any(np.shares_memory(y, x) for x in inputs), case.id
    identity = REGISTRY["transpose"](perm=(0, 1))
    x = rand(2, 3, 4)
    assert not np.shares_memory(identity.kernel([x], {})[0], x)


def test_kernels_do_not_modify_their_inputs() -> None:
    for case in CASES:
        inputs, weights = case_arrays(case)
        before = [x.copy() for x in inputs]
        case.op.kernel(inputs, weights)
        for x, kept in zip(inputs, before, strict=True):
            np.testing.assert_array_equal(x, kept, err_msg=case.id)


# -- seeded weights, weight files, the forward pass -----------------------------------------------------


@pytest.fixture(scope="module")
def small_v3() -> Any:
    model = load_model("mobilenet_v3_small")
    return model, model.point(alpha="0.75", resolution=64)


def test_seeding_is_deterministic_and_per_array(small_v3: Any) -> None:
    model, point = small_v3
    network = model.network(point)
    first, again = executor.seeded_weights(network), executor.seeded_weights(network)
    other = executor.seeded_weights(network, seed=1)
    assert first.keys() == again.keys() == other.keys()
    for layer, arrays in first.items():
        declared = network.node(layer).op.weights(list(network.node(layer).input_shapes))
        assert {name: (a.dtype, a.shape) for name, a in arrays.items()} == {
            name: (np.dtype(np.float32), tuple(d.shape)) for name, d in declared.items()
        }
        for name, a in arrays.items():
            np.testing.assert_array_equal(a, again[layer][name])
            assert not np.array_equal(a, other[layer][name]), (layer, name)
            if name == "running_var":
                assert a.min() > 0
    # an array's numbers depend only on the seed and the names: same layer, another point
    wider = executor.seeded_weights(model.network(model.point(alpha="0.75", resolution=96, classes=10)))
    np.testing.assert_array_equal(first["stem.conv.conv"]["weight"], wider["stem.conv.conv"]["weight"])
    np.testing.assert_array_equal(executor.seeded_input(network), executor.seeded_input(network))


def test_seeded_numbers_are_fixed() -> None:
    """The same seed gives the same numbers on every machine: pinned here."""
    model = load_model("squeezenet1_1")
    network = model.network(model.point(resolution=64))
    weight = executor.seeded_weights(network)["conv1"]["weight"]
    rng = np.random.default_rng(__import__("zlib").crc32(b"0:conv1:weight"))
    bound = math.sqrt(6 / 27)
    np.testing.assert_array_equal(
        weight, rng.random(weight.shape, dtype=np.float32) * np.float32(2 * bound) - np.float32(bound)
    )


def test_forward_records_per_image_costs(small_v3: Any) -> None:
    model, point = small_v3
    network = model.network(point)
    weights = executor.seeded_weights(network)
    x1 = executor.seeded_input(network, 1)
    x3 = executor.seeded_input(network, 3)
    y1, records1 = executor.forward(network, weights, x1)
    y3, records3 = executor.forward(network, weights, x3)
    assert records1 == records3  # per image, whatever the batch
    np.testing.assert_allclose(y3[:1], y1, rtol=1e-4, atol=1e-5)  # same image, same result
    costs = model.costs(point, "keras")
    assert sum(r.macs for r in records1) == costs.macs
    assert sum(r.params for r in records1) == costs.params
    present = [n.name for n in network.nodes if n.present is True]
    assert [r.name for r in records1] == present
    assert len(present) < len(network.nodes)  # some residual adds are absent here, and leave no record


def test_folded_forward_gives_the_same_output(small_v3: Any) -> None:
    model, point = small_v3
    network = model.network(point)
    weights = executor.seeded_weights(network)
    x = executor.seeded_input(network, 2)
    y, _ = executor.forward(network, weights, x)
    folded, records = executor.forward(network, weights, x, fold=True)
    np.testing.assert_allclose(folded, y, rtol=1e-4, atol=1e-4 * float(np.abs(y).max()))
    assert sum(r.params for r in records) == model.costs(point, "folded").params


def test_weight_files_round_trip(tmp_path: Path, small_v3: Any) -> None:
    model, point = small_v3
    network = model.network(point)
    weights = executor.seeded_weights(network, seed=3)
    path = tmp_path / "w.npz"
    executor.save_weights(path, weights)
    loaded = executor.load_weights(path)
    executor.check_weights(network, loaded)
    assert loaded.keys() == weights.keys()
    for layer, arrays in weights.items():
        for name, a in arrays.items():
            np.testing.assert_array_equal(loaded[layer][name], a)
    with np.load(path) as archive:
        assert "stem.conv.conv/weight" in archive.files  # keys are LAYER/ARRAY


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: w["stem.conv.conv"].pop("weight"), "lack 'stem.conv.conv/weight'"),
        (lambda w: w["stem.conv.bn"].update(gamma=np.ones(3, np.float32)), "has shape 3"),
        (lambda w: w.update({"stem.conv.cnv": {"weight": np.ones(1, np.float32)}}), "did you mean"),
        (lambda w: w["stem.conv.bn"].update(scale=np.ones(3, np.float32)), "no array 'scale'"),
    ],
)
def test_bad_weights_are_user_errors(small_v3: Any, change: Any, message: str) -> None:
    from costmodel.errors import UsageError

    model, point = small_v3
    network = model.network(point)
    weights = executor.seeded_weights(network)
    change(weights)
    with pytest.raises(UsageError, match=message):
        executor.check_weights(network, weights)


# -- costmodel verify ----------------------------------------------------------------------------------


def test_verify_reports_agreement() -> None:
    result = ok("verify", "mobilenet", "--alpha", "0.75", "--res", "192")
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("mobilenet_v1 α=0.75 192×192: 83 layers, shapes, params and MACs agree")
    assert "239,273,472 MACs" in lines[-1]
    # layer by layer: what the executor produced, allocated and multiplied, each agreeing
    assert lines[0].split()[:5] == ["layer", "type", "output", "params", "MACs"]
    rows = {line.split()[0]: line.split() for line in lines[2:-2]}
    assert len(rows) == 83 and all(row[-1] == "yes" for row in rows.values())
    assert rows["conv1.conv"][1:5] == ["conv3x3", "24×96×96", "648", "5,971,968"]  # 24·3·3·3; 96²·24·27
    assert rows["dw_separable1.dw"][1:5] == ["conv_dw3x3", "24×96×96", "216", "1,990,656"]  # 24·9; 96²·24·9
    assert rows["fc"][1:5] == ["fc", "1000", "769,000", "768,000"]


@pytest.mark.parametrize("name", builtin_names())
def test_verify_every_builtin_at_a_small_point(name: str) -> None:
    result = ok("verify", name, "--res", "64")
    assert "agree" in result.output


@pytest.mark.parametrize("name", builtin_names())
@pytest.mark.parametrize("extra", [0, 1])
def test_verify_every_builtin_at_its_minimum_resolution(name: str, extra: int) -> None:
    """Whatever `report` accepts, `verify` runs: at the smallest side the counts allow, and one above."""
    side = load_model(name).min_resolution()
    assert side is not None and side >= 1
    result = ok("verify", name, "--res", str(side + extra))
    assert f"{side + extra}×{side + extra}" in result.output and "agree" in result.output
    assert cli("verify", name, "--res", str(side - 1)).exit_code == 2


def test_run_at_the_minimum_resolution(tmp_path: Path) -> None:
    """SqueezeNet 1.1's last ceil-mode pool sees a 2×2 input at side 17, smaller than its 3×3 window."""
    x = tmp_path / "x.npy"
    np.save(x, rand(1, 3, 17, 17))
    result = ok("run", "squeezenet1_1", "--res", "17", "--input", str(x))
    assert "output: 1×1000×1×1" in result.output and "image 0:" in result.output


@pytest.mark.parametrize("counting", ["keras", "paper", "folded"])
def test_verify_under_other_countings(counting: str) -> None:
    ok("verify", "mobilenet_v2", "--res", "64", "--alpha", "0.35", "--counting", counting)


@pytest.mark.slow
def test_verify_all() -> None:
    """Every built-in model and variant at the --all points (about ten seconds; the symbolic forms dominate)."""
    result = ok("verify", "--all")
    lines = result.output.splitlines()
    runs = 0
    for name in builtin_names():
        model = load_model(name)
        runs += sum(len(verification.all_points(load_model(name, v))) for v in [None, *model.spec.variants])
    assert lines[-1] == f"{runs} passed, 0 failed"
    assert len(lines) == runs + 1 and all("agree" in line for line in lines[:-1])
    assert any(line.startswith("mobilenet_v3_small [keras] α=0.35 161×161: ") for line in lines)
    assert any(line.startswith("mobilenet_v2 α=1.3 97×97: ") for line in lines)
    assert any(line.startswith("alexnet num_classes=10 161×161: ") for line in lines)
    assert any(line.startswith("shufflenet_v2 113×209: ") for line in lines)


def test_verify_all_on_one_model() -> None:
    lines = ok("verify", "squeezenet1_1", "--all").output.splitlines()
    assert lines[-1] == f"{len(verification.all_points(load_model('squeezenet1_1')))} passed, 0 failed"


def test_verify_all_points_include_odd_resolutions_and_alphas() -> None:
    points = [p for _, p in verification.all_points(load_model("mobilenet_v2"))]
    assert {p.label for p in points} >= {"97", "161", "224", "113x209"}
    assert {float(p.values["alpha"]) for p in points} >= {0.35, 1.3, 1.0}
    assert {p.label for _, p in verification.all_points(load_model("alexnet"))} >= {"97", "161", "113x209"}


def test_verify_catches_a_wrong_formula(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "patched_squeezenet.yaml"  # its own cache entry: the patched forms stay here
    shutil.copy(ROOT / "specs" / "squeezenet1_1.yaml", spec)
    original = Conv2d.macs
    monkeypatch.setattr(Conv2d, "macs", lambda self, inputs, output: original(self, inputs, output) + 1)
    result = cli("verify", str(spec), "--res", "64")
    assert result.exit_code == 1, result.output
    assert "disagreement" in result.output
    layer_row, disagreement = (line.split() for line in result.output.splitlines() if line.startswith("conv1 "))
    assert layer_row[-2:] == ["no:", "MACs"]
    assert disagreement[1:] == ["MACs", "1,660,608", "1,660,609", "1,660,609"]


def test_verify_usage_errors() -> None:
    assert cli("verify").exit_code == 2
    assert cli("verify", "--all", "--res", "97").exit_code == 2
    assert cli("verify", "mobilenet", "--alpha", "0").exit_code == 2


# -- costmodel run -------------------------------------------------------------------------------------


def test_run_prints_top_classes(tmp_path: Path) -> None:
    x = rand(2, 3, 64, 64, seed=5)
    np.save(tmp_path / "x.npy", x)
    result = ok("run", "squeezenet1_1", "--input", str(tmp_path / "x.npy"), "--top", "3")
    assert result.stderr == "weights: seeded (seed 0)\n"  # said on stderr, apart from the results
    lines = result.stdout.splitlines()
    assert lines[0] == "output: 2×1000×1×1 (float32)"  # the input's side set the resolution
    model = load_model("squeezenet1_1")
    network = model.network(model.point(resolution=64))
    y, _ = executor.forward(network, executor.seeded_weights(network), x)
    best = np.argsort(-y[1].ravel(), kind="stable")[:3]
    assert lines[2] == "image 1: " + ", ".join(f"{int(j)} ({float(y[1].ravel()[j]):.6g})" for j in best)


def test_run_with_weights_writes_the_output(tmp_path: Path) -> None:
    model = load_model("mobilenet_v1")
    point = model.point(alpha="0.25", resolution=64, classes=10)
    network = model.network(point)
    weights = executor.seeded_weights(network, seed=9)
    executor.save_weights(tmp_path / "w.npz", weights)
    x = rand(3, 64, 64, seed=2)  # one image without the batch axis
    np.save(tmp_path / "x.npy", x)
    args = ["run", "mobilenet", "--alpha", "0.25", "--classes", "10", "--input", str(tmp_path / "x.npy")]
    ok(*args, "--weights", str(tmp_path / "w.npz"), "-o", str(tmp_path / "y.npy"))
    expected, _ = executor.forward(network, weights, x[None])
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    seeded = ok(*args).stdout  # without --weights: seed 0, another output
    assert seeded.splitlines()[0] == "output: 1×10 (float32)"


def test_run_user_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", rand(3, 64, 64))
    np.save(tmp_path / "flat.npy", rand(5))
    assert cli("run", "squeezenet1_1", "--input", str(tmp_path / "missing.npy")).exit_code == 2
    assert cli("run", "squeezenet1_1", "--input", str(tmp_path / "flat.npy")).exit_code == 2
    wrong = cli("run", "squeezenet1_1", "--input", str(tmp_path / "x.npy"), "--res", "96")
    assert wrong.exit_code == 2 and "needs 3×96×96" in wrong.output
    bad = cli("run", "squeezenet1_1", "--input", str(tmp_path / "x.npy"), "--weights", str(tmp_path / "x.npy"))
    assert bad.exit_code == 2


@pytest.mark.parametrize(
    ("option", "content", "message"),
    [
        ("--input", b"not numpy\n", "not a NumPy .npy or .npz file"),  # numpy would offer to unpickle it
        ("--weights", b"not numpy\n", "not a NumPy .npy or .npz file"),
        ("--input", None, "No such file or directory"),
        ("--weights", None, "No such file or directory"),
        ("--input", "npz", "is an .npz archive"),
    ],
)
def test_run_names_an_unreadable_array_file(tmp_path: Path, option: str, content: Any, message: str) -> None:
    np.save(tmp_path / "x.npy", rand(3, 64, 64))
    target = tmp_path / "given.npz"
    if content == "npz":
        np.savez(target, x=rand(3))
    elif content is not None:
        target.write_bytes(content)
    args = ["--input", str(tmp_path / "x.npy")] if option == "--weights" else []
    result = cli("run", "squeezenet1_1", *args, option, str(target))
    assert result.exit_code == 2, result.output
    assert message in result.output and str(target) in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


# -- sessions: batch norms folded and activations fused, once ---------------------------------------------


# one input channel per filter
DEPTHWISE_CASES = [c for c in CASES if c.name == "conv2d" and c.op.groups == c.inputs[0][1]]
HOST_CASES = [c for c in CASES if c.op.runs_activation]


def test_the_case_tables_cover_depthwise_and_hosts() -> None:
    assert len(DEPTHWISE_CASES) >= 6 and {c.op.stride for c in DEPTHWISE_CASES} >= {1, 2}
    assert {c.name for c in HOST_CASES} == {"conv2d", "linear"}
    for op in REGISTRY.values():  # an activation a host may run must be able to write over its input
        assert not op.fusable_activation or op.in_place


@pytest.mark.parametrize("layout", ["NCHW", "channels-last"])
@pytest.mark.parametrize("strategy", ["einsum", "offsets"])
@pytest.mark.parametrize("band", [1, 10, 100])
@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: c.id)
def test_depthwise_gives_the_same_in_any_number_of_bands(
    case: Case, band: int, strategy: str, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways of computing a band (one einsum, or a multiply-add per offset), in bands of any size,
    on either layout (einsum reads a channels-last input in place, all but its padded frame)."""
    from costmodel.ops import _depthwise

    monkeypatch.setattr(_depthwise, "DEPTHWISE_BAND", band)  # bands of one row upwards
    monkeypatch.setattr(_depthwise, "DEPTHWISE_EINSUM_CHANNELS", 1 if strategy == "einsum" else 1 << 30)
    inputs, weights = case_arrays(case)
    if layout == "channels-last":
        inputs[0] = np.ascontiguousarray(inputs[0].transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y, macs = case.op.kernel(inputs, weights)
    expected, multiplies = case.reference(case.op, inputs, weights)
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=ATOL)
    assert macs == multiplies


@pytest.mark.parametrize("activation", ["relu", "relu6"])
@pytest.mark.parametrize("case", HOST_CASES, ids=lambda c: c.id)
def test_an_activation_run_by_its_host_equals_running_it_after(case: Case, activation: str) -> None:
    inputs, weights = case_arrays(case)
    plain, _ = case.reference(case.op, inputs, weights)
    for array in weights.values():  # outputs up to 12 (linear in weight and bias): ReLU6 clips at both ends
        array *= np.float32(12 / plain.max())
    y, macs = case.op.kernel(inputs, weights, activation=REGISTRY[activation]())
    expected, multiplies = case.reference(case.op, inputs, weights)
    expected = np.clip(expected, 0, 6 if activation == "relu6" else None)
    assert (expected == 0).any() and (activation == "relu" or (expected == 6).any())
    np.testing.assert_allclose(y, expected, rtol=RTOL, atol=1e-4)
    assert macs == multiplies


@pytest.mark.parametrize("name", builtin_names())
def test_a_session_runs_what_the_layers_run_one_by_one(name: str) -> None:
    """Folding the norms and fusing the activations changes neither the output nor any record."""
    model = load_model(name)
    point = model.point(resolution=97) if model.base_resolution else model.point()
    network = model.network(point)
    weights = executor.seeded_weights(network)
    x = executor.seeded_input(network, 2)
    for fold in (False, True):
        session = executor.Session(network, weights, fold=fold)
        y, records = session.run(x)
        plain, plain_records = executor.Session(network, weights, fold=fold, fuse=False).run(x)
        assert records == plain_records
        np.testing.assert_allclose(y, plain, rtol=1e-4, atol=1e-4 * float(np.abs(plain).max()))
    norms = executor.fold_plan(network)
    assert {layer for layer in session.fused if network.node(layer).op.op_name == "batchnorm"} == set(norms)
    for layer, host in session.fused.items():
        assert network.node(host).op.runs_activation and network.node(layer).inputs[0] in (host, *norms)


def test_a_session_fuses_only_what_nothing_else_reads(tmp_path: Path) -> None:
    """A conv whose output also feeds an add keeps its ReLU a layer of its own (it must not write over it)."""
    spec = tmp_path / "branch.yaml"
    spec.write_text(
        "name: branch\ninput: {channels: 3, size: 8}\nlayers:\n"
        "  - {op: conv2d, name: a, out: 4, k: 3, pad: 1}\n"
        "  - parallel:\n      - [{op: relu, name: r}]\n      - []\n    merge: add\n    name: sum\n"
        "  - {op: conv2d, name: b, out: 4, k: 1, bias: false}\n  - {op: batchnorm, name: bn}\n"
        "  - {op: relu6, name: r6}\n",
        encoding="utf-8",
    )
    model = load_model(str(spec))
    network = model.network(model.point())
    weights = executor.seeded_weights(network)
    session = executor.Session(network, weights)
    assert session.fused == {"bn": "b", "r6": "b"}
    x = executor.seeded_input(network, 2)
    y, _ = session.run(x)
    a = executor.Session(network, weights, fuse=False).run(x)[0]
    np.testing.assert_allclose(y, a, rtol=1e-5, atol=1e-5)


# -- threads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_thread_count_is_a_usage_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from costmodel.errors import UsageError

    monkeypatch.setenv(executor.THREADS_VARIABLE, value)
    with pytest.raises(UsageError, match="COSTMODEL_THREADS"):
        executor.blas_threads()


def test_the_thread_count_is_asked_for_and_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    control = executor._openblas()
    if control is None:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS whose threads can be set")
    get, _ = control
    before = get()
    monkeypatch.setenv(executor.THREADS_VARIABLE, "1")
    with executor.limited_blas_threads() as inside:
        assert inside == 1 == get()
        with executor.limited_blas_threads(2) as nested:  # a nested block keeps the outer choice
            assert nested == 1
    assert get() == before


def test_without_the_variable_at_least_one_thread_and_no_more_than_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(executor.THREADS_VARIABLE, raising=False)
    assert 1 <= executor.blas_threads(1) <= 1
    assert executor.blas_threads() >= 1


def test_an_activation_never_overwrites_numbers_another_view_still_reads(tmp_path: Path) -> None:
    """Two flattens of one tensor are views of the same numbers: a relu after one of them must not
    run in place while the other is still to be read (the sum was relu(z) + relu(z), not relu(z) + z)."""
    spec = tmp_path / "views.yaml"
    spec.write_text(
        "name: views\ninput: {channels: 3, size: 4}\nlayers:\n"
        "  - {op: conv2d, name: conv, out: 2, k: 1}\n"
        "  - parallel:\n"
        "      - [{op: flatten, name: flat_a}, {op: relu, name: relu}]\n"
        "      - [{op: flatten, name: flat_b}]\n"
        "    merge: add\n"
        "    name: add\n"
    )
    model = load_model(str(spec))
    network = model.network(model.default_point())
    weights = executor.seeded_weights(network, seed=3)
    x = rand(2, 3, 4, 4, seed=1)
    conv = weights["conv"]
    z = np.einsum("oc,nchw->nohw", conv["weight"][:, :, 0, 0], x) + conv["bias"][None, :, None, None]
    z = z.reshape(2, -1)
    y, _ = executor.forward(network, weights, x)
    assert (z < 0).any()  # the case where writing over z shows
    np.testing.assert_allclose(y, np.maximum(z, 0) + z, rtol=1e-5, atol=1e-6)
