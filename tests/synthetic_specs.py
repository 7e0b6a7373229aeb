"""Synthetic specs of any number of layers, for the scale tests and ``benchmarks/bench_scale.py``.

:func:`synthetic_spec` writes a valid spec of exactly ``layers`` layers in the spec language: a stem,
units in a fixed rotation, ReLU6 layers for the rest, and a pooled classifier. Every convolution has a
width of its own (``out: 16.006`` and so on: distinct exact decimals, so every width is a distinct
named quantity of the closed forms, while the rounded widths stay between 16 and 64 and the NumPy
executor stays cheap), and the units hold what makes closed forms work hard:

- a chain: conv, batch norm, ReLU;
- an inverted residual whose add exists where the widths agree (``Eq`` of two rounded widths) and
  ``when: $s == 1``;
- a conv that exists only where ``in_channels > 24`` (a symbolic condition: its output width is a
  ``Piecewise`` every later layer reads);
- a squeeze-and-excite gate under ``when: in_channels > 32``.

The input is 32·ρ pixels square; the stem and two early units (stride 2) take it to 4 × 4.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

# layers each unit adds (the rotation below), and the stem's and the head's
_UNIT_LAYERS = (3, 9, 1, 6)
_STEM_LAYERS = 3
_HEAD_LAYERS = 2

_HEADER = """\
name: {name}
title: A synthetic network of {layers:,} layers
source: "tests/synthetic_specs.py"
symbols:
  alpha: {{default: 1.0, domain: "> 0", description: width multiplier}}
  rho: {{default: 1.0, domain: "> 0", description: input side = 32 rho}}
  num_classes: {{default: 10, domain: "integer >= 1"}}
input: {{channels: 3, size: 32*rho}}
width: {{rule: make_divisible8, multiplier: alpha}}
defaults:
  conv2d: {{bias: false}}
blocks:
  conv_bn_relu:
    params: {{out: , k: 1, stride: 1}}
    body:
      - {{op: conv2d, name: conv, out: $out, k: $k, stride: $stride, pad: ($k - 1) // 2}}
      - {{op: batchnorm, name: bn}}
      - {{op: relu, name: relu}}
  inverted_residual:
    params: {{hidden: , out: , s: 1}}
    body:
      - residual:
          - {{op: conv2d, name: expand, out: $hidden, k: 1}}
          - {{op: batchnorm, name: expand_bn}}
          - {{op: relu6, name: expand_relu}}
          - {{op: conv2d, name: dw, out: in, groups: in, k: 3, stride: $s, pad: 1}}
          - {{op: batchnorm, name: dw_bn}}
          - {{op: relu6, name: dw_relu}}
          - {{op: conv2d, name: project, out: $out, k: 1}}
          - {{op: batchnorm, name: project_bn}}
        when: $s == 1
        name: add
  squeeze_excite:
    params: {{squeeze: , c: in_channels}}
    body:
      - parallel:
          - []
          - - {{op: global_avg_pool, name: pool}}
            - {{op: conv2d, name: fc1, out: $squeeze, k: 1, bias: true}}
            - {{op: relu, name: relu}}
            - {{op: conv2d, name: fc2, out: $c, k: 1, bias: true}}
            - {{op: hard_sigmoid, name: gate}}
        merge: mul
        name: scale
layers:
"""


def _decimal(value: Fraction) -> str:
    """A width in thousandths as an exact decimal: 16.375, 17."""
    thousandths = value * 1000
    assert thousandths.denominator == 1, value
    whole, rest = divmod(int(thousandths), 1000)
    return f"{whole}.{rest:03d}".rstrip("0").rstrip(".")


def synthetic_spec(layers: int, name: str = "synthetic") -> str:
    """The text of a spec of exactly ``layers`` layers (at least ten)."""
    units, padding = _units(layers)
    widths = _widths(units)
    lines = [_HEADER.format(name=name, layers=layers)]
    lines.append(f"  - {{use: conv_bn_relu, name: stem, out: {_decimal(next(widths))}, k: 3, stride: 2}}\n")
    # two more stride-2 units (a chain, then an inverted residual): 32 -> 16 -> 8 -> 4 pixels at rho = 1
    rotation = len(_UNIT_LAYERS)
    strides = {units // 8 // rotation * rotation, units // 4 // rotation * rotation + 1}
    for unit in range(units):
        kind = unit % rotation
        stride = 2 if unit in strides else 1
        if kind == 0:
            lines.append(f"  - {{use: conv_bn_relu, out: {_decimal(next(widths))}, k: 3, stride: {stride}}}\n")
        elif kind == 1:
            hidden, out = _decimal(next(widths)), _decimal(next(widths))
            lines.append(f"  - {{use: inverted_residual, hidden: {hidden}, out: {out}, s: {stride}}}\n")
        elif kind == 2:
            lines.append(f"  - {{op: conv2d, out: {_decimal(next(widths))}, k: 1, when: in_channels > 24}}\n")
        else:
            lines.append(f"  - {{use: squeeze_excite, squeeze: {_decimal(next(widths))}, when: in_channels > 32}}\n")
    lines.extend("  - {op: relu6}\n" for _ in range(padding))
    lines.append("  - {op: global_avg_pool, name: pool}\n")
    lines.append("  - {op: linear, name: fc, out: fixed(num_classes)}\n")
    return "".join(lines)


def _units(layers: int) -> tuple[int, int]:
    """How many units fit in ``layers``, and the single layers (ReLU6) that make up the rest."""
    if layers < 10:
        raise ValueError("a synthetic spec has at least ten layers")
    budget = layers - _STEM_LAYERS - _HEAD_LAYERS
    cycle, rest = divmod(budget, sum(_UNIT_LAYERS))
    units = cycle * len(_UNIT_LAYERS)
    for size in _UNIT_LAYERS:
        if rest < size:
            break
        rest -= size
        units += 1
    return units, rest


def _widths(units: int) -> Iterator[Fraction]:
    """Distinct widths from 16 up to below 64 (before the width rule), one per convolution."""
    count = 2 * units + 1  # at most two new widths per unit, and the stem's
    step = max(1, 48_000 // count)  # in thousandths
    for index in range(count):
        yield 16 + Fraction(index * step, 1000)
