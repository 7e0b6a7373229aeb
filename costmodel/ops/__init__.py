"""The operator registry: each operator type defined once, one module per family.

``costmodel.ops.base`` says what an operator is; ``conv``, ``linear``, ``norm``, ``activation``,
``pool``, ``merge``, ``misc``, ``padding``, ``resize``, ``channels`` (slices and shuffles of the
channels) and ``tokens`` (tensors of any rank: a transformer's reshapes, attention, class token) define them.
Importing this package registers every one of them in :data:`REGISTRY` (YAML name -> class). Adding an
operator is one class in its family's module and one row in the tests.
"""

from __future__ import annotations

from costmodel.ops import activation, channels, conv, linear, merge, misc, norm, padding, pool, resize, tokens
from costmodel.ops.base import (
    AXES,
    BIAS,
    CAPABILITIES,
    CHANNELS,
    EXPR,
    FLAG,
    INDEX,
    NORM_AFFINE,
    NORM_STATS,
    NUMBER,
    PAD,
    PAIR,
    REGISTRY,
    SIZES,
    WEIGHT,
    WEIGHT_KINDS,
    Array,
    Epilogue,
    Operator,
    Shape,
    ShapeError,
    WeightArray,
    declares,
    product,
)

FAMILIES = (activation, channels, conv, linear, merge, misc, norm, padding, pool, resize, tokens)

__all__ = [
    "AXES",
    "BIAS",
    "CAPABILITIES",
    "CHANNELS",
    "EXPR",
    "FAMILIES",
    "FLAG",
    "INDEX",
    "NORM_AFFINE",
    "NORM_STATS",
    "NUMBER",
    "PAD",
    "PAIR",
    "REGISTRY",
    "SIZES",
    "WEIGHT",
    "WEIGHT_KINDS",
    "Array",
    "Epilogue",
    "Operator",
    "Shape",
    "ShapeError",
    "WeightArray",
    "declares",
    "product",
]
