"""One layer at a time: a conv, a fire module or an inverted residual, counted as a one-layer spec.

The layer is written as a spec and counted like any model, so the figures are the tool's own, not a
second formula. For a convolution the depthwise-separable version is counted beside it, with the
ratio's closed form: (k²·Cin + Cin·Cout) / (k²·Cin·Cout) = 1/Cout + 1/k², for weights and MACs alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.conventions import Counting, get_counting
from costmodel.errors import UsageError
from costmodel.expansion import expand
from costmodel.model import Model
from costmodel.spec import parse_spec


@dataclass
class LayerCost:
    name: str
    spec: str  # the one-layer spec it was counted as
    weights: int
    params: int
    macs: int
    output: tuple[int, ...]

    def record(self) -> dict[str, Any]:
        return {
            "layer": self.name,
            "weights": self.weights,
            "params": self.params,
            "macs": self.macs,
            "output": list(self.output),
        }


def _count(name: str, cin: int, hw: int, layers: str, counting: Counting | str) -> LayerCost:
    text = f"name: {name}\ninput: {{channels: {cin}, size: {hw}}}\nlayers:\n{layers}"
    spec = parse_spec(text, f"<{name}>")
    model = Model(spec, expand(spec))
    costs = model.costs(model.default_point(), get_counting(counting))
    output = tuple(int(v) for v in costs.layers[-1].output_shape)
    weights = int(costs.params_by_kind["weight"])
    return LayerCost(name, text, weights, int(costs.params), int(costs.macs), output)


def _positive(**values: int) -> None:
    for key, value in values.items():
        if value < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be at least 1, got {value}")


def conv(
    k: int, cin: int, cout: int, hw: int = 56, stride: int = 1, bias: bool = False, counting: str = "torchvision"
) -> tuple[LayerCost, LayerCost, Any]:
    """A standard k×k conv, its depthwise-separable version, and the ratio's closed form at these sizes."""
    _positive(k=k, cin=cin, cout=cout, hw=hw, stride=stride)
    pad = k // 2
    flag = "true" if bias else "false"
    standard = _count(
        "conv",
        cin,
        hw,
        f"  - {{op: conv2d, name: conv, out: {cout}, k: {k}, stride: {stride}, pad: {pad}, bias: {flag}}}\n",
        counting,
    )
    separable = _count(
        "separable",
        cin,
        hw,
        f"  - {{op: conv2d, name: dw, out: in, groups: in, k: {k}, stride: {stride}, pad: {pad}, bias: false}}\n"
        f"  - {{op: conv2d, name: pw, out: {cout}, k: 1, bias: {flag}}}\n",
        counting,
    )
    n, kk = sympy.Symbol("N"), sympy.Symbol("k")
    ratio = (1 / n + 1 / kk**2).subs({n: cout, kk: k})
    return standard, separable, ratio


def fire(s1x1: int, e1x1: int, e3x3: int, cin: int, hw: int = 56, counting: str = "torchvision") -> LayerCost:
    """SqueezeNet's fire module: squeeze 1×1, then expand 1×1 and 3×3, concatenated (with biases)."""
    _positive(s1x1=s1x1, e1x1=e1x1, e3x3=e3x3, cin=cin, hw=hw)
    layers = (
        f"  - {{op: conv2d, name: squeeze, out: {s1x1}, k: 1}}\n"
        "  - {op: relu, name: squeeze_relu}\n"
        "  - parallel:\n"
        f"      - [{{op: conv2d, name: expand1x1, out: {e1x1}, k: 1}}, {{op: relu, name: expand1x1_relu}}]\n"
        f"      - [{{op: conv2d, name: expand3x3, out: {e3x3}, k: 3, pad: 1}}, {{op: relu, name: expand3x3_relu}}]\n"
        "    merge: concat\n"
        "    name: cat\n"
    )
    return _count("fire", cin, hw, layers, counting)


def inverted_residual(
    cin: int, t: int, cout: int, stride: int = 1, hw: int = 56, counting: str = "torchvision"
) -> LayerCost:
    """MobileNet v2's block: expand 1×1 (×t), depthwise 3×3, project 1×1, batch norms, residual where it fits."""
    _positive(cin=cin, t=t, cout=cout, stride=stride, hw=hw)
    body = ""
    if t != 1:
        body += f"      - {{op: conv2d, name: expand, out: {cin * t}, k: 1, bias: false}}\n"
        body += "      - {op: batchnorm, name: expand_bn}\n      - {op: relu6, name: expand_relu}\n"
    body += f"      - {{op: conv2d, name: dw, out: in, groups: in, k: 3, stride: {stride}, pad: 1, bias: false}}\n"
    body += "      - {op: batchnorm, name: dw_bn}\n      - {op: relu6, name: dw_relu}\n"
    body += f"      - {{op: conv2d, name: project, out: {cout}, k: 1, bias: false}}\n"
    body += "      - {op: batchnorm, name: project_bn}\n"
    residual = stride == 1 and cin == cout
    layers = f"  - residual:\n{body}    name: add\n" if residual else body.replace("      - ", "  - ")
    return _count("inverted_residual", cin, hw, layers, counting)
