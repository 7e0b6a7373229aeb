"""costmodel.ops: every registered operator against hand-computed tables and brute force.

Each row of CASES states, worked out by hand, an operator's output shape, its weight arrays (kind and
shape), its parameter count, its MACs and its other ops. On top of the table:

- the tiny convolutions, fully-connected layers and pools are run for real with NumPy and explicit
  loops, and the multiplies those loops perform are counted and compared with ``op.macs``;
- the same formulas on sympy symbols, substituted, give the same integers (one formula, two number
  systems);
- impossible inputs raise ShapeError;
- every operator in the registry has at least one row.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field, is_dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import sympy

from costmodel import ops
from costmodel.ops import (
    BIAS,
    CAPABILITIES,
    NORM_AFFINE,
    NORM_STATS,
    REGISTRY,
    WEIGHT,
    WEIGHT_KINDS,
    Operator,
    ShapeError,
    WeightArray,
    declares,
)

Shape = tuple[Any, ...]


def op(name: str, **attrs: Any) -> Operator:
    return REGISTRY[name](**attrs)


@dataclass(frozen=True)
class Case:
    id: str
    op: Operator
    inputs: tuple[Shape, ...]
    output: Shape
    params: int
    macs: int
    other_ops: int
    label: str
    weights: dict[str, tuple[str, Shape]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.op.op_name


def conv_weights(out: int, cin_per_group: int, kh: int, kw: int, bias: bool) -> dict[str, tuple[str, Shape]]:
    arrays = {"weight": (WEIGHT, (out, cin_per_group, kh, kw))}
    if bias:
        arrays["bias"] = (BIAS, (out,))
    return arrays


def ln_weights(c: int) -> dict[str, tuple[str, Shape]]:
    return {"gamma": (NORM_AFFINE, (c,)), "beta": (NORM_AFFINE, (c,))}


def bn_weights(c: int) -> dict[str, tuple[str, Shape]]:
    return {
        "gamma": (NORM_AFFINE, (c,)),
        "beta": (NORM_AFFINE, (c,)),
        "running_mean": (NORM_STATS, (c,)),
        "running_var": (NORM_STATS, (c,)),
    }


# Every number below was worked out by hand from the definition (the comments show how).
CONV_CASES = [
    Case(
        "squeezenet1_0 conv1: 7x7/2, no pad, 224 -> 109",
        op("conv2d", out=96, k=7, stride=2),
        ((3, 224, 224),),
        (96, 109, 109),  # floor((224 - 7) / 2) + 1
        96 * 3 * 7 * 7 + 96,
        96 * 109 * 109 * (3 * 7 * 7),
        96 * 109 * 109,  # one bias add per output
        "conv7x7",
        conv_weights(96, 3, 7, 7, True),
    ),
    Case(
        "alexnet conv1: 11x11/4 pad 2, 224 -> 55",
        op("conv2d", out=64, k=11, stride=4, pad=2),
        ((3, 224, 224),),
        (64, 55, 55),  # floor((224 + 4 - 11) / 4) + 1
        64 * 3 * 121 + 64,
        64 * 55 * 55 * 363,
        64 * 55 * 55,
        "conv11x11",
        conv_weights(64, 3, 11, 11, True),
    ),
    Case(
        "mobilenet conv1: 3x3/2 'same', 224 -> 112, no bias",
        op("conv2d", out=32, k=3, stride=2, pad="same", bias=False),
        ((3, 224, 224),),
        (32, 112, 112),
        32 * 27,
        32 * 112 * 112 * 27,
        0,
        "conv3x3",
        conv_weights(32, 3, 3, 3, False),
    ),
    Case(
        "3x3 pad 1 keeps 5x5",
        op("conv2d", out=2, k=3, pad=1),
        ((3, 5, 5),),
        (2, 5, 5),
        2 * 27 + 2,
        50 * 27,
        50,
        "conv3x3",
        conv_weights(2, 3, 3, 3, True),
    ),
    Case(
        "3x3 no pad, no bias: 5 -> 3",
        op("conv2d", out=2, k=3, bias=False),
        ((3, 5, 5),),
        (2, 3, 3),
        54,
        18 * 27,
        0,
        "conv3x3",
        conv_weights(2, 3, 3, 3, False),
    ),
    Case(
        "3x3/2 pad 1: 5 -> 3",
        op("conv2d", out=4, k=3, stride=2, pad=1),
        ((2, 5, 5),),
        (4, 3, 3),  # floor((5 + 2 - 3) / 2) + 1
        4 * 18 + 4,
        36 * 18,
        36,
        "conv3x3",
        conv_weights(4, 2, 3, 3, True),
    ),
    Case(
        "3x1 kernel, stride (2, 1), pad (1, 0)",
        op("conv2d", out=2, k=(3, 1), stride=(2, 1), pad=(1, 0), bias=False),
        ((2, 7, 5),),
        (2, 4, 5),  # H: floor((7 + 2 - 3) / 2) + 1 = 4, W: 5 - 1 + 1 = 5
        2 * 2 * 3,
        40 * 6,
        0,
        "conv3x1",
        conv_weights(2, 2, 3, 1, False),
    ),
    Case(
        "depthwise 3x3 pad 1",
        op("conv2d", out=4, k=3, pad=1, groups=4, bias=False),
        ((4, 5, 5),),
        (4, 5, 5),
        4 * 9,
        100 * 9,  # one input channel per output channel
        0,
        "conv_dw3x3",
        conv_weights(4, 1, 3, 3, False),
    ),
    Case(
        "depthwise 3x3/2 'same': 7 -> 4",
        op("conv2d", out=4, k=3, stride=2, pad="same", groups=4, bias=False),
        ((4, 7, 7),),
        (4, 4, 4),  # ceil(7 / 2)
        36,
        64 * 9,
        0,
        "conv_dw3x3",
        conv_weights(4, 1, 3, 3, False),
    ),
    Case(
        "depthwise with multiplier 2 (groups = in, out = 2 in)",
        op("conv2d", out=4, k=3, pad=1, groups=2, bias=False),
        ((2, 5, 5),),
        (4, 5, 5),
        36,
        100 * 9,
        0,
        "conv3x3_grouped",
        conv_weights(4, 1, 3, 3, False),
    ),
    Case(
        "grouped (2 groups) 3x3/2 'same' with bias",
        op("conv2d", out=6, k=3, stride=2, pad="same", groups=2),
        ((4, 6, 6),),
        (6, 3, 3),
        6 * 2 * 9 + 6,
        54 * 18,
        54,
        "conv3x3_grouped",
        conv_weights(6, 2, 3, 3, True),
    ),
    Case(
        "3x3/2 'same' on 7 -> 4 (TF pads 1 + 1)",
        op("conv2d", out=2, k=3, stride=2, pad="same", bias=False),
        ((3, 7, 7),),
        (2, 4, 4),
        54,
        32 * 27,
        0,
        "conv3x3",
        conv_weights(2, 3, 3, 3, False),
    ),
    Case(
        "2x2 'same' stride 1 (TF pads 0 + 1)",
        op("conv2d", out=1, k=2, pad="same", bias=False),
        ((2, 5, 5),),
        (1, 5, 5),
        8,
        25 * 8,
        0,
        "conv2x2",
        conv_weights(1, 2, 2, 2, False),
    ),
    Case(
        "3x3/2 'valid': 6 -> 2",
        op("conv2d", out=2, k=3, stride=2, pad="valid"),
        ((3, 6, 6),),
        (2, 2, 2),  # floor((6 - 3) / 2) + 1
        56,
        8 * 27,
        8,
        "conv3x3",
        conv_weights(2, 3, 3, 3, True),
    ),
    Case(
        "pointwise 1x1",
        op("conv2d", out=2, k=1),
        ((3, 6, 6),),
        (2, 6, 6),
        8,
        72 * 3,
        72,
        "conv1x1",
        conv_weights(2, 3, 1, 1, True),
    ),
    Case(
        "kernel as large as the input",
        op("conv2d", out=1, k=5),
        ((1, 5, 5),),
        (1, 1, 1),
        26,
        25,
        1,
        "conv5x5",
        conv_weights(1, 1, 5, 5, True),
    ),
    Case(
        "2x2/3 pad 1: 5 -> 2",
        op("conv2d", out=3, k=2, stride=3, pad=1, bias=False),
        ((2, 5, 5),),
        (3, 2, 2),  # floor((5 + 2 - 2) / 3) + 1
        24,
        12 * 8,
        0,
        "conv2x2",
        conv_weights(3, 2, 2, 2, False),
    ),
]

LINEAR_CASES = [
    Case(
        "fc with bias",
        op("linear", out=10),
        ((16,),),
        (10,),
        170,
        160,
        10,
        "fc",
        {"weight": (WEIGHT, (10, 16)), "bias": (BIAS, (10,))},
    ),
    Case(
        "fc on a (C, H, W) input flattens it",
        op("linear", out=3, bias=False),
        ((4, 2, 2),),
        (3,),
        48,
        48,
        0,
        "fc",
        {"weight": (WEIGHT, (3, 16))},
    ),
    Case(
        "classifier 1024 -> 1000",
        op("linear", out=1000),
        ((1024, 1, 1),),
        (1000,),
        1024 * 1000 + 1000,
        1024 * 1000,
        1000,
        "fc",
        {"weight": (WEIGHT, (1000, 1024)), "bias": (BIAS, (1000,))},
    ),
]

POOL_CASES = [
    Case(
        "squeezenet max_pool 3/2 ceil_mode: 109 -> 54",
        op("max_pool", k=3, stride=2, ceil_mode=True),
        ((96, 109, 109),),
        (96, 54, 54),
        0,
        0,
        96 * 54 * 54 * 8,  # 8 comparisons per 3x3 window
        "max_pool",
    ),
    Case(
        "max_pool 3/2 ceil_mode keeps a partial window: 10 -> 5",
        op("max_pool", k=3, stride=2, ceil_mode=True),
        ((1, 10, 10),),
        (1, 5, 5),
        0,
        0,
        25 * 8,
        "max_pool",
    ),
    Case(
        "max_pool 3/2 without ceil_mode drops it: 10 -> 4",
        op("max_pool", k=3, stride=2),
        ((1, 10, 10),),
        (1, 4, 4),
        0,
        0,
        16 * 8,
        "max_pool",
    ),
    Case(
        "max_pool 2/2 pad 1 ceil_mode: last window would start in the padding, dropped",
        op("max_pool", k=2, stride=2, pad=1, ceil_mode=True),
        ((1, 5, 5),),
        (1, 3, 3),
        0,
        0,
        9 * 3,
        "max_pool",
    ),
    Case(
        "max_pool 3/3 pad 1 ceil_mode: 6 -> 3",
        op("max_pool", k=3, stride=3, pad=1, ceil_mode=True),
        ((1, 6, 6),),
        (1, 3, 3),
        0,
        0,
        9 * 8,
        "max_pool",
    ),
    Case(
        "max_pool stride defaults to the window",
        op("max_pool", k=2),
        ((2, 6, 6),),
        (2, 3, 3),
        0,
        0,
        18 * 3,
        "max_pool",
    ),
    Case(
        "max_pool 3/2 'same': 7 -> 4",
        op("max_pool", k=3, stride=2, pad="same"),
        ((2, 7, 7),),
        (2, 4, 4),
        0,
        0,
        32 * 8,
        "max_pool",
    ),
    Case(
        "avg_pool rectangular window",
        op("avg_pool", k=(2, 3)),
        ((2, 4, 6),),
        (2, 2, 2),
        0,
        0,
        8 * 6,  # 5 adds and a divide per output
        "avg_pool",
    ),
    Case(
        "avg_pool 3/2 pad 1",
        op("avg_pool", k=3, stride=2, pad=1),
        ((1, 5, 5),),
        (1, 3, 3),
        0,
        0,
        9 * 9,
        "avg_pool",
    ),
    Case(
        "avg_pool 7x7 over the whole input",
        op("avg_pool", k=7),
        ((3, 7, 7),),
        (3, 1, 1),
        0,
        0,
        3 * 49,
        "avg_pool",
    ),
    Case(
        "avg_pool 2/2 ceil_mode on 5: 3",
        op("avg_pool", k=2, stride=2, ceil_mode=True),
        ((1, 5, 5),),
        (1, 3, 3),
        0,
        0,
        9 * 4,
        "avg_pool",
    ),
    Case(
        "global_avg_pool",
        op("global_avg_pool"),
        ((8, 7, 7),),
        (8, 1, 1),
        0,
        0,
        8 * 49,
        "global_avg_pool",
    ),
    Case(
        "adaptive_avg_pool 13 -> 6: windows [0,3) [2,5) [4,7) [6,9) [8,11) [10,13)",
        op("adaptive_avg_pool", size=6),
        ((4, 13, 13),),
        (4, 6, 6),
        0,
        0,
        4 * 18 * 18,  # 3 rows x 3 columns per output: 18 x 18 per channel in all
        "adaptive_avg_pool",
    ),
    Case(
        "adaptive_avg_pool to the input's own size",
        op("adaptive_avg_pool", size=6),
        ((2, 6, 6),),
        (2, 6, 6),
        0,
        0,
        2 * 36,
        "adaptive_avg_pool",
    ),
    Case(
        "adaptive_avg_pool (2, 3) on 5x7: rows [0,3) [2,5), columns [0,3) [2,5) [4,7)",
        op("adaptive_avg_pool", size=(2, 3)),
        ((1, 5, 7),),
        (1, 2, 3),
        0,
        0,
        6 * 9,
        "adaptive_avg_pool",
    ),
]

ELEMENTWISE_CASES = [
    Case("batchnorm", op("batchnorm"), ((8, 4, 4),), (8, 4, 4), 32, 0, 2 * 128, "batchnorm", bn_weights(8)),
    Case("batchnorm on features", op("batchnorm"), ((5,),), (5,), 20, 0, 10, "batchnorm", bn_weights(5)),
    Case("relu", op("relu"), ((8, 4, 4),), (8, 4, 4), 0, 0, 128, "relu"),
    Case("relu6", op("relu6"), ((3, 2, 2),), (3, 2, 2), 0, 0, 24, "relu6"),
    Case("hard_swish", op("hard_swish"), ((3, 2, 2),), (3, 2, 2), 0, 0, 60, "hard_swish"),
    Case("hard_sigmoid", op("hard_sigmoid"), ((3, 2, 2),), (3, 2, 2), 0, 0, 48, "hard_sigmoid"),
    Case("sigmoid", op("sigmoid"), ((3, 2, 2),), (3, 2, 2), 0, 0, 36, "sigmoid"),
    Case("tanh", op("tanh"), ((3, 2, 2),), (3, 2, 2), 0, 0, 36, "tanh"),
    Case("silu", op("silu"), ((3, 2, 2),), (3, 2, 2), 0, 0, 48, "silu"),
    Case("gelu", op("gelu"), ((3, 2, 2),), (3, 2, 2), 0, 0, 60, "gelu"),
    Case("layernorm", op("layernorm"), ((4, 3, 3),), (4, 3, 3), 8, 0, 7 * 36, "layernorm", ln_weights(4)),
    Case("layernorm on features", op("layernorm", eps=1e-6), ((6,),), (6,), 12, 0, 42, "layernorm", ln_weights(6)),
    Case("scale", op("scale"), ((4, 3, 3),), (4, 3, 3), 4, 0, 36, "scale", {"weight": (WEIGHT, (4,))}),
    Case("gelu, tanh", op("gelu", tanh=True), ((3, 2, 2),), (3, 2, 2), 0, 0, 60, "gelu"),
    Case("dropout", op("dropout", p=0.5), ((10,),), (10,), 0, 0, 0, "dropout"),
    Case("dropout default p", op("dropout"), ((4, 2, 2),), (4, 2, 2), 0, 0, 0, "dropout"),
    Case("softmax", op("softmax"), ((10,),), (10,), 0, 0, 30, "softmax"),
    Case("flatten", op("flatten"), ((4, 3, 3),), (36,), 0, 0, 0, "flatten"),
    Case("flatten a vector", op("flatten"), ((7,),), (7,), 0, 0, 0, "flatten"),
]

MERGE_CASES = [
    Case("concat two (fire module)", op("concat"), ((2, 5, 5), (3, 5, 5)), (5, 5, 5), 0, 0, 0, "concat"),
    Case("concat three", op("concat"), ((1, 2, 2), (2, 2, 2), (3, 2, 2)), (6, 2, 2), 0, 0, 0, "concat"),
    Case("concat vectors", op("concat"), ((4,), (6,)), (10,), 0, 0, 0, "concat"),
    Case("add two (residual)", op("add"), ((4, 3, 3), (4, 3, 3)), (4, 3, 3), 0, 0, 36, "add"),
    Case("mul by a channel gate (squeeze-excite)", op("mul"), ((4, 3, 3), (4, 1, 1)), (4, 3, 3), 0, 0, 36, "mul"),
    Case("mul elementwise", op("mul"), ((4, 3, 3), (4, 3, 3)), (4, 3, 3), 0, 0, 36, "mul"),
    Case("add three", op("add"), ((4, 3, 3),) * 3, (4, 3, 3), 0, 0, 72, "add"),
]

CHANNEL_CASES = [
    # a slice takes stop - start channels and keeps the sides; a shuffle keeps the shape; neither counts anything
    Case("first half", op("slice", start=0, stop=4), ((8, 5, 5),), (4, 5, 5), 0, 0, 0, "slice"),
    Case("second half", op("slice", start=4, stop=8), ((8, 5, 5),), (4, 5, 5), 0, 0, 0, "slice"),
    Case("one channel", op("slice", start=2, stop=3), ((6, 2, 3),), (1, 2, 3), 0, 0, 0, "slice"),
    Case("all channels", op("slice", start=0, stop=3), ((3, 4, 4),), (3, 4, 4), 0, 0, 0, "slice"),
    Case("2 groups", op("channel_shuffle", groups=2), ((8, 4, 4),), (8, 4, 4), 0, 0, 0, "channel_shuffle"),
    Case("3 groups", op("channel_shuffle", groups=3), ((6, 2, 5),), (6, 2, 5), 0, 0, 0, "channel_shuffle"),
    Case("1 group", op("channel_shuffle", groups=1), ((5, 3, 3),), (5, 3, 3), 0, 0, 0, "channel_shuffle"),
    Case("pad after", op("pad", bottom=1, right=1), ((3, 7, 7),), (3, 8, 8), 0, 0, 0, "pad"),
    Case("pad all sides", op("pad", top=2, bottom=1, left=0, right=3), ((4, 5, 6),), (4, 8, 9), 0, 0, 0, "pad"),
    Case("pad (H, W, C) rows", op("pad", bottom=2, right=1, axis=0), ((5, 6, 4),), (7, 7, 4), 0, 0, 0, "pad"),
    Case("nearest x2", op("resize", scale=2), ((4, 5, 6),), (4, 10, 12), 0, 0, 0, "resize"),
    Case("nearest x1/3", op("resize", scale=Fraction(1, 3)), ((2, 7, 9),), (2, 2, 3), 0, 0, 0, "resize"),
    Case("bilinear to 8x5", op("resize", size=(8, 5), bilinear=True), ((3, 4, 4),), (3, 8, 5), 0, 0, 7 * 120, "resize"),
]

TOKEN_CASES = [
    # a transformer's tokens: (tokens, features) and attention's (heads, tokens, tokens)
    Case("reshape 8x3 -> 4x6", op("reshape", shape=(4, 6)), ((8, 3),), (4, 6), 0, 0, 0, "reshape"),
    Case("reshape patches to rows", op("reshape", shape=(8, 4)), ((8, 2, 2),), (8, 4), 0, 0, 0, "reshape"),
    Case("transpose a matrix", op("transpose", perm=(1, 0)), ((3, 5),), (5, 3), 0, 0, 0, "transpose"),
    Case("transpose 3 axes", op("transpose", perm=(2, 0, 1)), ((2, 3, 4),), (4, 2, 3), 0, 0, 0, "transpose"),
    # output (2, 5, 6), each value a sum of 4 products
    Case("matmul per head", op("matmul"), ((2, 5, 4), (2, 4, 6)), (2, 5, 6), 0, 2 * 5 * 6 * 4, 0, "matmul"),
    Case("matmul broadcast", op("matmul"), ((5, 4), (2, 4, 3)), (2, 5, 3), 0, 30 * 4, 0, "matmul"),
    Case("select the class token", op("select", axis=0), ((5, 8),), (8,), 0, 0, 0, "select"),
    Case("select along the last axis", op("select", axis=1, index=2), ((5, 3),), (5,), 0, 0, 0, "select"),
    Case(
        "class_token in front of 4 tokens",
        op("class_token"),
        ((4, 8),),
        (5, 8),
        8,
        0,
        0,
        "class_token",
        {"token": (WEIGHT, (1, 8))},
    ),
    Case(
        "position_embedding",
        op("position_embedding"),
        ((5, 8),),
        (5, 8),
        40,
        0,
        40,
        "position_embedding",
        {"embedding": (WEIGHT, (5, 8))},
    ),
    Case("scale_by 1/2", op("scale_by", factor=0.5), ((5, 8),), (5, 8), 0, 0, 40, "scale_by"),
    Case(
        "fc per token (flatten: false)",
        op("linear", out=16, flatten=False),
        ((5, 8),),
        (5, 16),
        8 * 16 + 16,
        5 * 8 * 16,
        5 * 16,
        "fc",
        {"weight": (WEIGHT, (16, 8)), "bias": (BIAS, (16,))},
    ),
    Case(
        "layernorm over the features",
        op("layernorm", axis=1),
        ((5, 8),),
        (5, 8),
        16,
        0,
        7 * 40,
        "layernorm",
        ln_weights(8),
    ),
    Case("softmax over the last axis", op("softmax", axis=2), ((2, 5, 5),), (2, 5, 5), 0, 0, 3 * 50, "softmax"),
    Case("concat along the features", op("concat", axis=1), ((5, 3), (5, 4)), (5, 7), 0, 0, 0, "concat"),
    # a stored tensor broadcast: Swin's relative position bias (heads, N, N) over (windows, heads, N, N)
    Case(
        "add_constant broadcast",
        op("add_constant", shape=(1, 2, 3, 3)),
        ((4, 2, 3, 3),),
        (4, 2, 3, 3),
        18,  # stored, not trained: norm_stats, which the torchvision preset leaves out
        0,
        72,
        "add_constant",
        {"value": (NORM_STATS, (1, 2, 3, 3))},
    ),
    Case(
        "mul_constant per head",
        op("mul_constant", shape=(2, 1, 1)),
        ((4, 2, 3, 3),),
        (4, 2, 3, 3),
        2,
        0,
        72,
        "mul_constant",
        {"value": (NORM_STATS, (2, 1, 1))},
    ),
    # square, sum and divide per value
    Case(
        "l2_normalize features",
        op("l2_normalize", axis=2),
        ((4, 2, 3, 5),),
        (4, 2, 3, 5),
        0,
        0,
        3 * 120,
        "l2_normalize",
    ),
    Case(
        "slice rows with a step",
        op("slice", start=1, stop=6, axis=1, step=2),
        ((3, 7, 4),),
        (3, 3, 4),
        0,
        0,
        0,
        "slice",
    ),
]

CASES = CONV_CASES + LINEAR_CASES + POOL_CASES + ELEMENTWISE_CASES + MERGE_CASES + CHANNEL_CASES + TOKEN_CASES


def cases(rows: list[Case]) -> Any:
    return pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.name}: {c.id}") for c in rows])


# -- the registry ----------------------------------------------------------------------------------


def test_every_registered_operator_has_cases() -> None:
    tested = {c.name for c in CASES}
    assert tested == set(REGISTRY), f"operators without a test case: {set(REGISTRY) - tested}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_entry_is_a_frozen_dataclass_under_its_name(name: str) -> None:
    cls = REGISTRY[name]
    assert cls.op_name == name
    assert issubclass(cls, Operator)
    assert is_dataclass(cls)
    instance = next(c.op for c in CASES if c.name == name)
    first_field = next(iter(cls.schema()), None)
    if first_field is not None:
        with pytest.raises(FrozenInstanceError):
            setattr(instance, first_field, 1)
    assert 1 <= cls.min_inputs <= cls.max_inputs


@pytest.mark.parametrize(
    ("name", "required"),
    [
        ("conv2d", {"out", "k"}),
        ("linear", {"out"}),
        ("max_pool", {"k"}),
        ("avg_pool", {"k"}),
        ("adaptive_avg_pool", {"size"}),
        ("batchnorm", set()),
        ("relu", set()),
        ("concat", set()),
        ("slice", {"start", "stop"}),
        ("channel_shuffle", {"groups"}),
    ],
)
def test_required_attributes(name: str, required: set[str]) -> None:
    assert REGISTRY[name].required() == required
    assert required <= set(REGISTRY[name].schema())


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_operator_declares_every_capability(name: str) -> None:
    """Shape rule, weights, MACs, other ops, kernel, ONNX export and import: each declared by the class
    or its family base, never left to the base class's placeholder (ONNX import may say it has none)."""
    cls = REGISTRY[name]
    assert cls.onnx_types is not None, f"{name}: set onnx_types to the ONNX types it reads, or () for none"
    needed = [c for c in CAPABILITIES if not (c == "from_onnx" and cls.onnx_types == ())]
    missing = [c for c in needed if not declares(cls, c)]
    assert not missing, f"{name} does not declare {missing}"
    if cls.in_place or cls.fusable_activation:
        assert "kernel_in_place" in {k for base in cls.__mro__[:-2] for k in vars(base)}, name


def test_an_operator_that_forgets_a_capability_is_caught() -> None:
    @dataclass(frozen=True)
    class Forgetful(ops.base.Elementwise):
        op_name = "forgetful"
        onnx_types = ("Forgetful",)

        def kernel(self, inputs: list[Any], weights: dict[str, Any]) -> tuple[Any, int]:
            return inputs[0], 0

    assert declares(Forgetful, "output_shape") and declares(Forgetful, "kernel")
    assert not declares(Forgetful, "to_onnx") and not declares(Forgetful, "from_onnx")


def test_every_onnx_type_is_read_by_one_operator() -> None:
    pytest.importorskip("onnx")
    from costmodel.onnx_import import IMPORTERS

    claimed = [t for cls in REGISTRY.values() for t in cls.onnx_types or ()]
    assert len(claimed) == len(set(claimed)) == len(IMPORTERS)
    assert all(t in REGISTRY[IMPORTERS[t].op_name].onnx_types for t in IMPORTERS)


def test_merge_operators_take_several_inputs() -> None:
    assert REGISTRY["add"].min_inputs == REGISTRY["mul"].min_inputs == 2
    assert REGISTRY["concat"].min_inputs == 1  # of one input, the identity (as ONNX's Concat)
    assert REGISTRY["mul"].max_inputs == 2
    assert REGISTRY["matmul"].min_inputs == REGISTRY["matmul"].max_inputs == 2
    assert all(REGISTRY[n].max_inputs == 1 for n in REGISTRY if n not in ("concat", "add", "mul", "matmul"))


# -- the table -------------------------------------------------------------------------------------


@cases(CASES)
def test_output_shape(case: Case) -> None:
    output = case.op.output_shape(list(case.inputs))
    assert tuple(output) == case.output
    assert all(type(d) is int for d in output), output


@cases(CASES)
def test_weights_and_params(case: Case) -> None:
    weights = case.op.weights(list(case.inputs))
    assert {name: (w.kind, tuple(w.shape)) for name, w in weights.items()} == case.weights
    assert all(isinstance(w, WeightArray) and w.kind in WEIGHT_KINDS for w in weights.values())
    for w in weights.values():
        assert w.size == int(np.prod(w.shape))
    assert sum(w.size for w in weights.values()) == case.params


@cases(CASES)
def test_macs_other_ops_and_label(case: Case) -> None:
    inputs = list(case.inputs)
    output = case.op.output_shape(inputs)
    assert case.op.macs(inputs, output) == case.macs
    assert case.op.other_ops(inputs, output) == case.other_ops
    assert case.op.type_label(inputs) == case.label


def test_params_by_kind() -> None:
    bn = op("batchnorm").weights([(16, 8, 8)])
    assert sum(w.size for w in bn.values() if w.kind == NORM_AFFINE) == 32
    assert sum(w.size for w in bn.values() if w.kind == NORM_STATS) == 32
    conv = op("conv2d", out=8, k=3).weights([(4, 8, 8)])
    assert [(w.kind, w.size) for w in conv.values()] == [(WEIGHT, 8 * 4 * 9), (BIAS, 8)]


# -- brute force: run it, count the multiplies -----------------------------------------------------


def tf_same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow 'SAME': output ceil(size / s), the total padding split with the extra on the end."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def pads(pad: Any, kh: int, kw: int, sh: int, sw: int, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
    if pad == "same":
        return tf_same_pads(h, kh, sh), tf_same_pads(w, kw, sw)
    if pad == "valid":
        return (0, 0), (0, 0)
    ph, pw = pad if isinstance(pad, tuple) else (pad, pad)
    return (ph, ph), (pw, pw)


def pair(v: Any) -> tuple[Any, Any]:
    return v if isinstance(v, tuple) else (v, v)


def brute_conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, conv: Any) -> tuple[np.ndarray, int]:
    """A direct convolution with explicit loops; returns the output and the multiplies performed."""
    _, h, w = x.shape
    o, cg, kh, kw = weight.shape
    sh, sw = pair(conv.stride)
    (pt, pb), (pl, pr) = pads(conv.pad, kh, kw, sh, sw, h, w)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr)))
    rows = range(0, xp.shape[1] - kh + 1, sh)  # every window that fits in the padded input
    cols = range(0, xp.shape[2] - kw + 1, sw)
    per_group = o // conv.groups
    out = np.zeros((o, len(rows), len(cols)))
    multiplies = 0
    for oc in range(o):
        first_in = (oc // per_group) * cg
        for i, y in enumerate(rows):
            for j, x0 in enumerate(cols):
                acc = 0.0
                for ci in range(cg):
                    for dy in range(kh):
                        for dx in range(kw):
                            acc += xp[first_in + ci, y + dy, x0 + dx] * weight[oc, ci, dy, dx]
                            multiplies += 1
                out[oc, i, j] = acc + (bias[oc] if bias is not None else 0.0)
    return out, multiplies


def vectorised_conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, conv: Any) -> np.ndarray:
    """The same convolution another way (windows + einsum), to check the loops themselves."""
    _, h, w = x.shape
    o, cg, kh, kw = weight.shape
    sh, sw = pair(conv.stride)
    (pt, pb), (pl, pr) = pads(conv.pad, kh, kw, sh, sw, h, w)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    groups = conv.groups
    per_group = o // groups
    parts = [
        np.einsum("chwyx,ocyx->ohw", windows[g * cg : (g + 1) * cg], weight[g * per_group : (g + 1) * per_group])
        for g in range(groups)
    ]
    result = np.concatenate(parts)
    return result + (bias[:, None, None] if bias is not None else 0.0)


def allocate(op_: Operator, inputs: list[Shape], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Allocate exactly the arrays the operator declares (as the executor does)."""
    return {name: rng.standard_normal(w.shape) for name, w in op_.weights(inputs).items()}


SMALL_CONV_CASES = [c for c in CONV_CASES if c.macs <= 5000]


def test_brute_force_covers_every_conv_flavour() -> None:
    flavours = {c.label.replace("conv", "").split("x")[0] for c in SMALL_CONV_CASES}
    assert len(SMALL_CONV_CASES) >= 10
    assert {"_dw3", "3", "1", "2", "5"} <= flavours
    pads_seen = {str(c.op.pad) for c in SMALL_CONV_CASES}
    assert {"0", "1", "same", "valid", "(1, 0)"} <= pads_seen
    assert {c.op.bias for c in SMALL_CONV_CASES} == {True, False}
    assert any(c.op.groups > 1 and c.label.endswith("grouped") for c in SMALL_CONV_CASES)


@cases(SMALL_CONV_CASES)
def test_conv2d_macs_equal_brute_force(case: Case) -> None:
    rng = np.random.default_rng(0)
    inputs = list(case.inputs)
    arrays = allocate(case.op, inputs, rng)
    x = rng.standard_normal(inputs[0])
    out, multiplies = brute_conv2d(x, arrays["weight"], arrays.get("bias"), case.op)
    np.testing.assert_allclose(out, vectorised_conv2d(x, arrays["weight"], arrays.get("bias"), case.op), atol=1e-9)
    assert out.shape == case.op.output_shape(inputs)
    assert multiplies == case.op.macs(inputs, out.shape) == case.macs


def brute_linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, int]:
    flat = x.reshape(-1)
    out = np.zeros(weight.shape[0])
    multiplies = 0
    for o in range(weight.shape[0]):
        acc = 0.0
        for i in range(flat.shape[0]):
            acc += weight[o, i] * flat[i]
            multiplies += 1
        out[o] = acc + (bias[o] if bias is not None else 0.0)
    return out, multiplies


@cases([c for c in LINEAR_CASES if c.macs <= 5000])
def test_linear_macs_equal_brute_force(case: Case) -> None:
    rng = np.random.default_rng(1)
    inputs = list(case.inputs)
    arrays = allocate(case.op, inputs, rng)
    x = rng.standard_normal(inputs[0])
    out, multiplies = brute_linear(x, arrays["weight"], arrays.get("bias"))
    expected = arrays["weight"] @ x.reshape(-1) + arrays.get("bias", 0.0)
    np.testing.assert_allclose(out, expected)
    assert out.shape == case.op.output_shape(inputs)
    assert multiplies == case.op.macs(inputs, out.shape) == case.macs


def pool_windows(size: int, k: int, s: int, pad: Any, ceil_mode: bool) -> list[tuple[int, int]]:
    """PyTorch's pooling windows along one axis, enumerated one by one, clipped to the input.

    A window is kept when it fits in the padded input; with ceil_mode also a last partial window,
    provided it starts inside the input or the left padding and the window one stride before it
    (for the first window: one stride before the start) had not already reached the end.
    'same' is TensorFlow's: windows over the SAME-padded input.
    """
    if pad == "same":
        before, after = tf_same_pads(size, k, s)
    else:
        before = after = 0 if pad == "valid" else pad
    extent = size + before + after
    windows = []
    i = 0
    while True:
        start = i * s  # in padded coordinates
        fits = start + k <= extent
        partial = ceil_mode and start < size + before and (i - 1) * s + k < extent
        if not (fits or partial):
            break
        windows.append((max(start - before, 0), min(start - before + k, size)))
        i += 1
    return windows


def brute_pool(x: np.ndarray, pool: Any) -> np.ndarray:
    kh, kw = pair(pool.k)
    sh, sw = pair(pool.stride if pool.stride is not None else pool.k)
    ph, pw = pair(pool.pad) if pool.pad not in ("same", "valid") else (pool.pad, pool.pad)
    rows = pool_windows(x.shape[1], kh, sh, ph, pool.ceil_mode)
    cols = pool_windows(x.shape[2], kw, sw, pw, pool.ceil_mode)
    reduce = np.max if pool.op_name == "max_pool" else np.mean
    out = np.zeros((x.shape[0], len(rows), len(cols)))
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            out[:, i, j] = reduce(x[:, r0:r1, c0:c1], axis=(1, 2))
    return out


@cases([c for c in POOL_CASES if c.name in ("max_pool", "avg_pool")])
def test_pool_shape_equals_brute_force(case: Case) -> None:
    x = np.random.default_rng(2).standard_normal(case.inputs[0])
    out = brute_pool(x, case.op)
    assert out.shape == case.op.output_shape(list(case.inputs)) == case.output
    if case.op.pad == 0 and not case.op.ceil_mode:  # no padding, whole windows: check the loops another way
        kh, kw = pair(case.op.k)
        sh, sw = pair(case.op.stride if case.op.stride is not None else case.op.k)
        windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
        reduce = np.max if case.name == "max_pool" else np.mean
        np.testing.assert_allclose(out, reduce(windows, axis=(-2, -1)))


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("pad", [0, 1, 2, "same"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_pool_grid_equals_brute_force(k: int, stride: int, pad: Any, ceil_mode: bool) -> None:
    if pad != "same" and 2 * pad > k:  # PyTorch: pad at most half the window
        return
    for size in range(1, 14):
        pool = op("max_pool", k=k, stride=stride, pad=pad, ceil_mode=ceil_mode)
        expected = len(pool_windows(size, k, stride, pad, ceil_mode))
        if expected == 0:
            with pytest.raises(ShapeError):
                pool.output_shape([(1, size, size)])
        else:
            assert pool.output_shape([(1, size, size + 1)])[1] == expected, size


def brute_adaptive_adds(x: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, int]:
    """PyTorch's adaptive average pool: window i is [floor(i·n/out), ceil((i+1)·n/out)); counts the adds."""
    c, h, w = x.shape
    oh, ow = size
    out = np.zeros((c, oh, ow))
    adds = 0
    for i in range(oh):
        r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            total = np.zeros(c)
            for r in range(r0, r1):
                for q in range(c0, c1):
                    total += x[:, r, q]
                    adds += c
            out[:, i, j] = total / ((r1 - r0) * (c1 - c0))
    return out, adds


@cases([c for c in POOL_CASES if c.name == "adaptive_avg_pool"])
def test_adaptive_avg_pool_equals_brute_force(case: Case) -> None:
    x = np.random.default_rng(3).standard_normal(case.inputs[0])
    out, adds = brute_adaptive_adds(x, pair(case.op.size))
    inputs = list(case.inputs)
    assert out.shape == case.op.output_shape(inputs)
    assert adds == case.op.other_ops(inputs, out.shape) == case.other_ops
    if case.inputs[0][1:] == case.output[1:]:
        np.testing.assert_allclose(out, x)  # same size: the identity


def test_global_avg_pool_equals_mean() -> None:
    x = np.random.default_rng(4).standard_normal((8, 7, 7))
    pool = op("global_avg_pool")
    assert x.mean(axis=(1, 2), keepdims=True).shape == pool.output_shape([x.shape])


# -- one formula, two number systems ---------------------------------------------------------------


def symbolise(shapes: tuple[Shape, ...]) -> tuple[tuple[Shape, ...], dict[sympy.Symbol, int]]:
    """Every distinct dimension value becomes a positive integer symbol (equal values share one)."""
    symbols: dict[int, sympy.Symbol] = {}
    for shape in shapes:
        for d in shape:
            symbols.setdefault(d, sympy.Symbol(f"d{d}", integer=True, positive=True))
    symbolic = tuple(tuple(symbols[d] for d in shape) for shape in shapes)
    return symbolic, {s: v for v, s in symbols.items()}


def substituted(value: Any, point: dict[sympy.Symbol, int]) -> Any:
    result = sympy.sympify(value).subs(point)
    assert result.is_Integer, f"{value} at {point} is {result}, not an integer"
    return int(result)


def keeps_channels_numeric(case: Case) -> bool:
    # a grouped conv's channel count must be a known multiple of its (numeric) groups
    return case.name == "conv2d" and case.op.groups != 1


@cases(CASES)
def test_symbolic_formulas_equal_the_integers(case: Case) -> None:
    inputs = list(case.inputs)
    output = case.op.output_shape(inputs)
    symbolic_inputs, point = symbolise(case.inputs)
    if keeps_channels_numeric(case):
        symbolic_inputs = tuple((shape[0], *sym[1:]) for shape, sym in zip(case.inputs, symbolic_inputs, strict=True))
    sym_inputs = list(symbolic_inputs)
    sym_output = case.op.output_shape(sym_inputs)
    if case.name in ("conv2d", "max_pool", "avg_pool"):
        assert any(not isinstance(d, int) for d in sym_output), "the closed form should depend on the symbols"
    assert tuple(substituted(d, point) for d in sym_output) == tuple(output)
    numeric_weights = case.op.weights(inputs)
    sym_weights = case.op.weights(sym_inputs)
    assert sym_weights.keys() == numeric_weights.keys()
    for name, w in sym_weights.items():
        assert w.kind == numeric_weights[name].kind
        assert substituted(w.size, point) == numeric_weights[name].size
    assert substituted(case.op.macs(sym_inputs, sym_output), point) == case.macs
    assert substituted(case.op.other_ops(sym_inputs, sym_output), point) == case.other_ops


@pytest.mark.parametrize(
    "layer",
    [
        op("max_pool", k=3, stride=2, ceil_mode=True),
        op("max_pool", k=2, stride=2, pad=1, ceil_mode=True),
        op("avg_pool", k=3, stride=3, pad=1, ceil_mode=True),
        op("conv2d", out=8, k=3, stride=2, pad="same", bias=False),
        op("conv2d", out=8, k=7, stride=2),
        op("conv2d", out=8, k=3, stride=2, pad=1),
        op("adaptive_avg_pool", size=6),
    ],
    ids=lambda layer: f"{layer.op_name}{tuple(v for v in vars(layer).values())}",
)
def test_one_closed_form_for_every_size(layer: Operator) -> None:
    """The closed form in the input side h, built once, equals the integer result at every side."""
    h = sympy.Symbol("h", integer=True, positive=True)
    sym_out = layer.output_shape([(4, h, h)])
    macs = layer.macs([(4, h, h)], sym_out)
    other = layer.other_ops([(4, h, h)], sym_out)
    compared = 0
    for size in [*range(1, 16), 27, 54, 55, 109, 110, 111, 224]:
        try:
            numeric_out = layer.output_shape([(4, size, size)])
        except ShapeError:
            continue  # too small for this window: no integer result to compare with
        point = {h: size}
        assert substituted(sym_out[1], point) == numeric_out[1], size
        assert substituted(macs, point) == layer.macs([(4, size, size)], numeric_out), size
        assert substituted(other, point) == layer.other_ops([(4, size, size)], numeric_out), size
        compared += 1
    assert compared >= 15


def test_depthwise_with_symbolic_width() -> None:
    """groups = in, as a spec's `groups: in` gives it: the weight has one input channel whatever the width."""
    c = sympy.Symbol("c", integer=True, positive=True)
    h = sympy.Symbol("h", integer=True, positive=True)
    dw = op("conv2d", out=c, k=3, stride=2, pad="same", groups=c, bias=False)
    out = dw.output_shape([(c, h, h)])
    weights = dw.weights([(c, h, h)])
    assert weights["weight"].shape[1] == 1
    assert weights["weight"].size == 9 * c
    assert dw.type_label([(c, h, h)]) == "conv_dw3x3"
    for cv, hv in [(4, 7), (32, 112), (1024, 7), (8, 1)]:
        numeric = op("conv2d", out=cv, k=3, stride=2, pad="same", groups=cv, bias=False)
        n_out = numeric.output_shape([(cv, hv, hv)])
        point = {c: cv, h: hv}
        assert tuple(substituted(d, point) for d in out) == n_out
        assert (
            substituted(dw.macs([(c, h, h)], out), point)
            == numeric.macs([(cv, hv, hv)], n_out)
            == cv * n_out[1] ** 2 * 9
        )


def test_symbolic_merges_do_not_raise_on_unknown_sizes() -> None:
    a, b = sympy.symbols("a b", integer=True, positive=True)
    assert op("add").output_shape([(4, a, a), (4, b, b)]) == (4, a, a)
    assert op("concat").output_shape([(a, 5, 5), (b, 5, 5)]) == (a + b, 5, 5)


# -- impossible inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "inputs", "fragment"),
    [
        pytest.param(op("conv2d", out=4, k=3), [(16,)], "(channels, height, width)", id="conv on a vector"),
        pytest.param(op("conv2d", out=4, k=3), [(3, 2, 2)], "too small", id="conv window larger than input"),
        pytest.param(op("conv2d", out=4, k=(1, 5)), [(3, 8, 4)], "width", id="conv window wider than input"),
        pytest.param(op("conv2d", out=4, k=3, pad="valid"), [(3, 2, 9)], "height", id="conv valid too small"),
        pytest.param(op("conv2d", out=4, k=3, groups=2), [(3, 8, 8)], "does not divide the 3 input", id="groups∤in"),
        pytest.param(op("conv2d", out=3, k=3, groups=2), [(4, 8, 8)], "does not divide the 3 output", id="groups∤out"),
        pytest.param(op("conv2d", out=0, k=3), [(3, 8, 8)], "out", id="conv out 0"),
        pytest.param(op("conv2d", out=4, k=0), [(3, 8, 8)], "k", id="conv k 0"),
        pytest.param(op("conv2d", out=4, k=3, stride=0), [(3, 8, 8)], "stride", id="conv stride 0"),
        pytest.param(op("conv2d", out=4, k=3, groups=0), [(3, 8, 8)], "groups", id="conv groups 0"),
        pytest.param(op("conv2d", out=4, k=3, pad=-1), [(3, 8, 8)], "pad", id="conv negative pad"),
        pytest.param(op("conv2d", out=4, k=3, pad=(1, -1)), [(3, 8, 8)], "pad", id="conv negative width pad"),
        pytest.param(op("linear", out=0), [(16,)], "out", id="linear out 0"),
        pytest.param(op("max_pool", k=3, stride=0), [(1, 8, 8)], "stride", id="max_pool stride 0"),
        pytest.param(op("avg_pool", k=0), [(1, 8, 8)], "k", id="avg_pool k 0"),
        pytest.param(op("max_pool", k=3, stride=2, pad=-1), [(1, 8, 8)], "pad", id="max_pool negative pad"),
        pytest.param(op("max_pool", k=3), [(1, 2, 2)], "too small", id="max_pool window larger than input"),
        pytest.param(op("max_pool", k=3), [(8,)], "(channels, height, width)", id="max_pool on a vector"),
        pytest.param(op("avg_pool", k=(1, 5)), [(1, 4, 4)], "width", id="avg_pool window wider than input"),
        pytest.param(op("global_avg_pool"), [(10,)], "(channels, height, width)", id="global pool on a vector"),
        pytest.param(op("adaptive_avg_pool", size=0), [(4, 6, 6)], "positive integer", id="adaptive size 0"),
        pytest.param(op("adaptive_avg_pool", size=6), [(10,)], "(channels", id="adaptive on a vector"),
        pytest.param(
            op("adaptive_avg_pool", size=sympy.Symbol("n")), [(4, 6, 6)], "constant", id="adaptive symbolic size"
        ),
        pytest.param(op("concat"), [(2, 5, 5), (3, 4, 4)], "mismatched", id="concat spatial mismatch"),
        pytest.param(op("concat"), [(2, 5, 5), (2, 5, 5), (3, 5, 4)], "mismatched", id="concat third mismatch"),
        pytest.param(op("concat"), [(2, 5, 5), (3,)], "rank", id="concat rank mismatch"),
        pytest.param(op("add"), [(4, 3, 3), (4, 3, 2)], "mismatched", id="add spatial mismatch"),
        pytest.param(op("add"), [(4, 3, 3), (5, 3, 3)], "mismatched", id="add channel mismatch"),
        pytest.param(op("add"), [(4, 3, 3), (36,)], "rank", id="add rank mismatch"),
        pytest.param(op("mul"), [(4, 3, 3), (2, 1, 1)], "broadcast", id="mul gate of the wrong width"),
        pytest.param(op("mul"), [(4, 3, 3), (4,)], "rank", id="mul rank mismatch"),
        pytest.param(
            op("slice", start=4, stop=4), [(8, 2, 2)], "start 4 must be less than its stop 4", id="slice empty"
        ),
        pytest.param(
            op("slice", start=5, stop=3), [(8, 2, 2)], "start 5 must be less than its stop 3", id="slice reversed"
        ),
        pytest.param(
            op("slice", start=4, stop=9), [(8, 2, 2)], "stop 9 is past the input's 8 channels", id="slice past C"
        ),
        pytest.param(op("slice", start=-1, stop=2), [(8, 2, 2)], "at least 0", id="slice negative start"),
        pytest.param(op("slice", start=0, stop=2, axis=1), [(8,)], "slice axis 1 is not an axis", id="slice a vector"),
        pytest.param(op("slice", start=0, stop=2, step=0), [(8, 2, 2)], "step must be a positive", id="slice step 0"),
        pytest.param(
            op("add_constant", shape=(3, 1)), [(2, 4)], "cannot broadcast 3×1 onto 2×4", id="add_constant grows"
        ),
        pytest.param(op("reshape", shape=(5, 2)), [(3, 3)], "cannot reshape 3×3 (9 values)", id="reshape count"),
        pytest.param(op("matmul"), [(2, 3), (4, 5)], "3 ≠ 4", id="matmul inner sizes"),
        pytest.param(op("class_token"), [(4, 2, 2)], "(tokens, features)", id="class_token on an image"),
        pytest.param(
            op("channel_shuffle", groups=3), [(8, 2, 2)], "groups 3 does not divide the 8 input", id="shuffle groups∤C"
        ),
        pytest.param(op("channel_shuffle", groups=0), [(8, 2, 2)], "positive integer", id="shuffle groups 0"),
        pytest.param(op("channel_shuffle", groups=2), [(8,)], "(channels, height, width)", id="shuffle a vector"),
        pytest.param(op("pad", top=-1), [(3, 4, 4)], "at least 0", id="pad negative"),
        pytest.param(op("pad", left=1), [(8,)], "(channels, height, width)", id="pad a vector"),
        pytest.param(op("resize"), [(3, 4, 4)], "a scale or a size", id="resize neither"),
        pytest.param(op("resize", scale=2, size=4), [(3, 4, 4)], "a scale or a size", id="resize both"),
        pytest.param(op("resize", scale=Fraction(1, 5)), [(3, 4, 4)], "no output pixel", id="resize to nothing"),
        pytest.param(op("resize", scale=-1), [(3, 4, 4)], "must be positive", id="resize negative"),
    ],
)
def test_shape_errors(layer: Operator, inputs: list[Shape], fragment: str) -> None:
    with pytest.raises(ShapeError) as info:
        layer.output_shape(inputs)
    assert fragment in str(info.value)


def test_conv_fractional_width_is_refused() -> None:
    from fractions import Fraction

    with pytest.raises(ShapeError, match="positive integer"):
        op("conv2d", out=Fraction(3, 2), k=3).output_shape([(3, 8, 8)])


def test_shape_error_is_a_value_error_but_not_an_expression_error() -> None:
    from costmodel.expressions import ExpressionError

    assert issubclass(ShapeError, ValueError)
    assert not issubclass(ShapeError, ExpressionError)
    assert ops.ShapeError is ShapeError
