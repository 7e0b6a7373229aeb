"""The efficient-CNN tricks applied to any network: separable or full convolutions, fire modules, a
global-pooling head.

A model's symbolic network is written out as a flat spec (every layer with its name, its inputs and
its attributes as expressions in the model's symbols), rewritten layer by layer, and read back as a
model, so that the result is counted, verified and written like any spec (``-o new.yaml``):

- ``separable``: every k×k convolution (k > 1, not grouped) becomes a depthwise k×k (one filter per
  input channel, with a batch norm and the activation the original is followed by, if it is) and a
  pointwise 1×1 that keeps the original's name, width and bias;
- ``full_conv``: every depthwise k×k followed (through batch norms and activations only) by a
  pointwise 1×1 becomes one k×k convolution with the pointwise's width: the reverse;
- ``fire``: every 3×3 stride-1 convolution becomes a fire module: a squeeze 1×1 to floor(sr·out),
  then expand 1×1 and 3×3 (floor(pct3x3·out) of them), concatenated;
- ``gap_head``: a flatten + fully-connected head becomes a 1×1 convolution to the classes and a
  global average pool.

Expressions are printed in the spec's own grammar (``max``, ``ceil``, ``make_divisible``, ``!=``,
``and``); nothing is evaluated from text.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import sympy
import yaml
from sympy.printing.str import StrPrinter

from costmodel.errors import UsageError
from costmodel.expansion import expand
from costmodel.graph import INPUT, Network
from costmodel.model import Model
from costmodel.ops import FLAG, NUMBER, PAD
from costmodel.spec import Spec, parse_spec

TRICKS = ("separable", "full_conv", "fire", "gap_head")
PASS_THROUGH = ("batchnorm", "relu", "relu6", "hard_swish", "hard_sigmoid", "sigmoid", "silu", "dropout")


class _GrammarPrinter(StrPrinter):
    """sympy expressions in the spec grammar's words."""

    def _print_Max(self, expr: Any) -> str:
        return f"max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr: Any) -> str:
        return f"min({', '.join(self._print(a) for a in expr.args)})"

    def _print_ceiling(self, expr: Any) -> str:
        return f"ceil({self._print(expr.args[0])})"

    def _print_Relational(self, expr: Any) -> str:
        op = {"==": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}[expr.rel_op]
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _print_And(self, expr: Any) -> str:
        return " and ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Or(self, expr: Any) -> str:
        return " or ".join(f"({self._print(a)})" for a in expr.args)

    def _print_Not(self, expr: Any) -> str:
        return f"not ({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr: Any) -> str:
        raise UsageError("a conditional width cannot be written as a spec attribute")


def grammar(value: Any) -> Any:
    """A value as a spec writes it: numbers stay numbers, expressions become grammar text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return [grammar(v) for v in value]
    expr = sympy.sympify(value)
    if expr.is_Integer:
        return int(expr)
    if expr.is_Rational:
        return float(expr) if expr.q in (2, 4, 5, 8, 10, 20, 25, 100) else str(expr)
    text: str = _GrammarPrinter().doprint(expr)
    return text


@dataclass
class Layer:
    """One layer of a flat spec: its operator, name, inputs, attributes (grammar values) and condition."""

    op: str
    name: str
    inputs: list[str]
    attrs: dict[str, Any]
    when: Any = None

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"op": self.op, "name": self.name, "from": list(self.inputs)}
        entry.update(self.attrs)
        if self.when is not None:
            entry["when"] = self.when
        return entry


def flat_layers(model: Model) -> list[Layer]:
    """The model's symbolic network as flat layers (absent layers left out, names made identifiers)."""
    network = model.symbolic_network
    inlined: dict[Any, Any] = {}
    for symbol, definition in network.definitions.items():
        inlined[symbol] = definition.xreplace(inlined)
    names = _identifiers(network)
    layers = []
    for node in network.nodes:
        present = node.present if isinstance(node.present, bool) else sympy.sympify(node.present).xreplace(inlined)
        if present is False or present is sympy.false:
            names[node.name] = names.get(node.inputs[-1], node.inputs[-1])  # absent: its input passes on
            continue
        attrs = {}
        for f in fields(node.op):
            value = getattr(node.op, f.name)
            if value is None:
                continue
            kind = f.metadata["kind"]
            if kind in (FLAG, PAD) and (isinstance(value, bool) or value in ("same", "valid")):
                attrs[f.name] = value
            elif kind == NUMBER:
                attrs[f.name] = float(value) if not isinstance(value, int) else value
            else:
                attrs[f.name] = grammar(_inline(value, inlined))
        when = None if present is True or present is sympy.true else grammar(present)
        inputs = [names.get(i, i) for i in node.inputs]
        layers.append(Layer(node.op.op_name, names[node.name], inputs, attrs, when))
    return layers


def _inline(value: Any, inlined: dict[Any, Any]) -> Any:
    if isinstance(value, tuple):
        return tuple(_inline(v, inlined) for v in value)
    if isinstance(value, (bool, str)) or value is None:
        return value
    return sympy.sympify(value).xreplace(inlined)


def _identifiers(network: Network) -> dict[str, str]:
    taken = {INPUT}
    names = {INPUT: INPUT}
    for node in network.nodes:
        base = re.sub(r"\W", "_", node.name).strip("_") or "layer"
        if not base[0].isalpha():
            base = "l_" + base
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[node.name] = name
    return names


# -- the tricks -------------------------------------------------------------------------------------


def _consumers(layers: list[Layer]) -> dict[str, list[Layer]]:
    users: dict[str, list[Layer]] = {}
    for layer in layers:
        for source in layer.inputs:
            users.setdefault(source, []).append(layer)
    return users


def _selected(layer: Layer, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(layer.name, p) for p in patterns)


def _is_depthwise(layer: Layer) -> bool:
    """One filter per channel: ``out: in, groups: in``, or groups written as the same width as out."""
    if layer.op != "conv2d":
        return False
    groups = layer.attrs.get("groups")
    return layer.attrs.get("out") == "in" or (groups not in (None, 1) and groups == layer.attrs.get("out"))


def _kernel(layer: Layer) -> Any:
    return layer.attrs.get("k")


def separable(layers: list[Layer], patterns: list[str]) -> list[Layer]:
    users = _consumers(layers)
    result: list[Layer] = []
    for layer in layers:
        k = _kernel(layer)
        eligible = layer.op == "conv2d" and k not in (1, [1, 1]) and layer.attrs.get("groups", 1) == 1
        if not (eligible and _selected(layer, patterns)):
            result.append(layer)
            continue
        follow = _follow(layer, users)
        dw_attrs = {"out": "in", "k": k, "groups": "in", "bias": False}
        for key in ("stride", "pad"):
            if key in layer.attrs:
                dw_attrs[key] = layer.attrs[key]
        chain = [Layer("conv2d", f"{layer.name}_dw", list(layer.inputs), dw_attrs, layer.when)]
        for op in follow:  # the batch norm and activation the original conv is followed by
            chain.append(Layer(op, f"{layer.name}_dw_{op}", [chain[-1].name], {}, layer.when))
        pw_attrs = {k_: v for k_, v in layer.attrs.items() if k_ not in ("stride", "pad", "groups")}
        pw_attrs["k"] = 1
        chain.append(Layer("conv2d", layer.name, [chain[-1].name], pw_attrs, layer.when))
        result.extend(chain)
    return result


def _follow(layer: Layer, users: dict[str, list[Layer]]) -> list[str]:
    """The batch norm and activation right after a layer (each the only reader of the one before)."""
    ops = []
    current = layer
    for _ in range(2):
        after = users.get(current.name, [])
        if len(after) != 1 or after[0].op not in ("batchnorm", "relu", "relu6", "hard_swish", "silu"):
            break
        ops.append(after[0].op)
        current = after[0]
    return ops


def full_conv(layers: list[Layer], patterns: list[str]) -> list[Layer]:
    users = _consumers(layers)
    merged: dict[str, Layer] = {}  # pointwise name -> the full conv that replaces it
    dropped: set[str] = set()
    for layer in layers:
        if not (_is_depthwise(layer) and _selected(layer, patterns)):
            continue
        between = []
        current = layer
        while True:
            after = users.get(current.name, [])
            if len(after) != 1:
                break
            nxt = after[0]
            if nxt.op in PASS_THROUGH:
                between.append(nxt)
                current = nxt
                continue
            if nxt.op == "conv2d" and nxt.attrs.get("k") in (1, [1, 1]) and nxt.attrs.get("groups", 1) == 1:
                attrs = dict(nxt.attrs)
                attrs["k"] = layer.attrs["k"]
                for key in ("stride", "pad"):
                    if key in layer.attrs:
                        attrs[key] = layer.attrs[key]
                merged[nxt.name] = Layer("conv2d", nxt.name, list(layer.inputs), attrs, nxt.when)
                dropped |= {layer.name, *(b.name for b in between)}
            break
    return [merged.get(layer.name, layer) for layer in layers if layer.name not in dropped]


def fire(layers: list[Layer], patterns: list[str], squeeze_ratio: str, pct3x3: str) -> list[Layer]:
    result: list[Layer] = []
    for layer in layers:
        eligible = (
            layer.op == "conv2d"
            and layer.attrs.get("k") in (3, [3, 3])
            and layer.attrs.get("stride", 1) in (1, [1, 1])
            and layer.attrs.get("groups", 1) == 1
        )
        if not (eligible and _selected(layer, patterns)):
            result.append(layer)
            continue
        out = layer.attrs["out"]
        name, when = layer.name, layer.when
        e3 = f"floor({pct3x3}*({out}))"
        bias = layer.attrs.get("bias", True)
        result += [
            Layer(
                "conv2d",
                f"{name}_squeeze",
                list(layer.inputs),
                {"out": f"max(1, floor({squeeze_ratio}*({out})))", "k": 1, "bias": bias},
                when,
            ),
            Layer("relu", f"{name}_squeeze_relu", [f"{name}_squeeze"], {}, when),
            Layer(
                "conv2d",
                f"{name}_expand1x1",
                [f"{name}_squeeze_relu"],
                {"out": f"({out}) - {e3}", "k": 1, "bias": bias},
                when,
            ),
            Layer(
                "conv2d",
                f"{name}_expand3x3",
                [f"{name}_squeeze_relu"],
                {"out": e3, "k": 3, "pad": 1, "bias": bias},
                when,
            ),
            Layer("concat", name, [f"{name}_expand1x1", f"{name}_expand3x3"], {}, when),
        ]
    return result


def gap_head(layers: list[Layer], network_shapes: dict[str, int]) -> list[Layer]:
    """Replace the head from the first flatten (or flattening linear) to the last linear layer."""
    linears = [i for i, layer in enumerate(layers) if layer.op == "linear"]
    if not linears:
        raise UsageError("--gap-head: the network has no fully-connected head")
    last = linears[-1]
    start = None
    for i in range(last, -1, -1):
        layer = layers[i]
        if layer.op in ("flatten",) or (layer.op == "linear" and network_shapes.get(layer.inputs[0], 1) == 3):
            start = i
        elif layer.op not in ("linear", "relu", "relu6", "dropout", "hard_swish", "batchnorm"):
            break
    if start is None:
        raise UsageError("--gap-head: no flatten + fully-connected head to replace (is it already pooled?)")
    source = layers[start].inputs[0]
    classes = layers[last].attrs["out"]
    bias = layers[last].attrs.get("bias", True)
    head = [
        Layer("conv2d", "head_conv", [source], {"out": classes, "k": 1, "bias": bias}),
        Layer("global_avg_pool", "head_pool", ["head_conv"], {}),
        Layer("flatten", "head_flatten", ["head_pool"], {}),
    ]
    after = layers[last + 1 :]
    if after:
        after = [Layer(after[0].op, after[0].name, ["head_flatten"], after[0].attrs, after[0].when), *after[1:]]
    return layers[:start] + head + after


# -- writing and reading back -------------------------------------------------------------------------


def spec_text(model: Model, layers: list[Layer], title: str) -> str:
    spec = model.spec
    symbols = {}
    for name, symbol in spec.symbols.items():
        default = symbol.default
        entry: dict[str, Any] = {"default": int(default) if default.denominator == 1 else float(default)}
        if symbol.domain:
            entry["domain"] = symbol.domain
        if symbol.description:
            entry["description"] = symbol.description
        symbols[name] = entry
    data: dict[str, Any] = {
        "name": re.sub(r"\W", "_", f"{spec.name}_{title}"),
        "title": f"{spec.title}, {title.replace('_', ' ')}",
        "source": f"costmodel whatif --{title.replace('_', '-')} of {spec.name}"
        + (f" [{spec.variant}]" if spec.variant else ""),
        "symbols": symbols,
        "input": {"channels": spec.input_channels.text, "size": _input_size(spec)},
        "layers": [layer.entry() for layer in layers],
    }
    if not symbols:
        del data["symbols"]
    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True))


def _input_size(spec: Spec) -> str | list[str]:
    if spec.input_width is None:
        return spec.input_size.text
    return [spec.input_size.text, spec.input_width.text]


def read_back(text: str, display: str) -> Model:
    spec = parse_spec(text, display)
    return Model(spec, expand(spec))


@dataclass
class Rewritten:
    before: Model
    after: Model
    text: str  # the new spec


def apply(
    model: Model,
    trick: str,
    patterns: list[str] | None = None,
    squeeze_ratio: str = "0.125",
    pct3x3: str = "0.5",
) -> Rewritten:
    """``model`` with ``trick`` applied to the layers whose names match ``patterns`` (default: all)."""
    if trick not in TRICKS:
        raise UsageError(f"unknown trick '{trick}' (tricks: {', '.join(TRICKS)})")
    layers = flat_layers(model)
    chosen = list(patterns or [])
    rewrites: dict[str, Callable[[], list[Layer]]] = {
        "separable": lambda: separable(layers, chosen),
        "full_conv": lambda: full_conv(layers, chosen),
        "fire": lambda: fire(layers, chosen, squeeze_ratio, pct3x3),
        "gap_head": lambda: gap_head(layers, _ranks(model)),
    }
    new = rewrites[trick]()
    text = spec_text(model, new, trick)
    return Rewritten(model, read_back(text, f"<{model.name} --{trick.replace('_', '-')}>"), text)


def _ranks(model: Model) -> dict[str, int]:
    names = _identifiers(model.symbolic_network)
    ranks = {INPUT: 3}
    for node in model.symbolic_network.nodes:
        ranks[names[node.name]] = len(node.output_shape)
    return ranks
