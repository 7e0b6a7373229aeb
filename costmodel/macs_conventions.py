"""What each PyTorch counting tool adds to the multiply-accumulates: conventions for the operation count.

Every tool counts the convolutions' and fully-connected layers' multiply-accumulates (the papers'
Mult-Adds, the ``paper`` convention); each then silently adds some of the other operations, and
which depends on how it counts (module hooks, a patch of ``torch.nn.functional``, an aten trace). A
convention is that difference as data: per operator type, a few quantities of the layer times small
weights. The rules were measured with ``tools/peer_counts.py`` (one-layer probes and the built-in
models, ``tests/data/peer_counts.json``) on the tool versions named here; operator types a rule
does not name add nothing.

Quantities a rule may weigh (elements of one image):

- ``out``: the layer's output elements;
- ``in``: its (first) input's elements;
- ``bias``: its output elements where it has a bias (a conv or linear layer; under ``--counting folded``
  the conv a batch norm folds into has one, and the norm is gone);
- ``affine``: the batch norm's γ and β values (2 per channel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from costmodel.errors import UsageError, did_you_mean

QUANTITIES = {
    "out": "output elements",
    "in": "input elements",
    "bias": "bias values added (output elements)",
    "affine": "gamma and beta values",
}


@dataclass(frozen=True)
class Rule:
    """What one convention adds for one operator type: Σ weight × quantity, and why, in words."""

    op: str  # the operator type, with "(function)" or "(mean)" for one not computed by a module
    terms: tuple[tuple[str, int], ...]
    why: str

    def formula(self) -> str:
        """The rule as the docs print it: ``2 × output elements``."""
        return " + ".join(f"{w} × {QUANTITIES[q]}" if w != 1 else QUANTITIES[q] for q, w in self.terms)


@dataclass(frozen=True)
class MacsConvention:
    """A tool's operation count: the paper's MACs plus its rules (operator type -> Rule)."""

    name: str
    tool: str  # the tool, its version and the options that give this count
    description: str
    rules: tuple[Rule, ...] = ()

    def rule(self, op_name: str, call: str = "module") -> Rule | None:
        """The rule of an operator type. A layer the PyTorch code computes other than by a module (a
        pool's ``pytorch: function`` or ``mean``) has its own, ``global_avg_pool(mean)``: tools that hook
        modules do not see it, and tools that trace operators see another operator."""
        key = op_name if call == "module" else f"{op_name}({call})"
        for rule in self.rules:
            if rule.op == key:
                return rule
        return None


def _rules(**rules: tuple[dict[str, int], str]) -> tuple[Rule, ...]:
    """Keyword form of a rule table: ``global_avg_pool__mean`` stands for ``global_avg_pool(mean)``."""
    return tuple(
        Rule(re.sub(r"__(\w+)$", r"(\1)", op), tuple(terms.items()), why) for op, (terms, why) in rules.items()
    )


_BIAS = ({"bias": 1}, "bias adds counted, one per output value")
_PTFLOPS = "ptflops 0.7.5"
_THOP = "thop 0.1.1.post2209072238"

CONVENTIONS: dict[str, MacsConvention] = {
    c.name: c
    for c in (
        MacsConvention(
            "paper",
            "the MobileNet and SqueezeNet papers' Mult-Adds",
            "multiply-accumulates of convolutions, fully-connected layers and attention's matrix products; "
            "everything else counted apart as other ops",
        ),
        MacsConvention(
            "ptflops",
            f"{_PTFLOPS}, get_model_complexity_info (pytorch backend, defaults)",
            "module hooks plus a patch of torch.nn.functional: a module that calls a patched function "
            "(ReLU, the pools) is counted twice",
            _rules(
                conv2d=_BIAS,
                linear=_BIAS,
                batchnorm=({"out": 2}, "batch norm, 2 per element"),
                relu=({"out": 2}, "ReLU counted twice (module hook and functional patch), 1 per element each"),
                relu6=({"out": 1}, "ReLU6, 1 per element (its hardtanh is not patched)"),
                silu=({"out": 1}, "SiLU, 1 per element (the functional patch; no module hook)"),
                max_pool=({"in": 2}, "max pool counted twice (hook and patch), 1 per input element each"),
                avg_pool=({"in": 2}, "average pool counted twice (hook and patch), 1 per input element each"),
                adaptive_avg_pool=({"in": 2}, "adaptive pool counted twice (hook and patch), 1 per input element"),
                global_avg_pool=({"in": 2}, "global pool counted twice (hook and patch), 1 per input element each"),
                global_avg_pool__function=({"in": 1}, "global pool called as a function: 1 per input element"),
            ),
        ),
        MacsConvention(
            "ptflops-nofunc",
            f"{_PTFLOPS}, get_model_complexity_info(backend_specific_config={{'count_functional': False}})",
            "module hooks only",
            _rules(
                conv2d=_BIAS,
                linear=_BIAS,
                batchnorm=({"out": 2}, "batch norm, 2 per element"),
                relu=({"out": 1}, "ReLU, 1 per element"),
                relu6=({"out": 1}, "ReLU6, 1 per element"),
                max_pool=({"in": 1}, "max pool, 1 per input element"),
                avg_pool=({"in": 1}, "average pool, 1 per input element"),
                adaptive_avg_pool=({"in": 1}, "adaptive pool, 1 per input element"),
                global_avg_pool=({"in": 1}, "global pool, 1 per input element"),
            ),
        ),
        MacsConvention(
            "ptflops-aten",
            f"{_PTFLOPS}, get_model_complexity_info(backend='aten')",
            "aten convolutions and matrix products, with their bias adds",
            _rules(conv2d=_BIAS, linear=_BIAS),
        ),
        MacsConvention(
            "thop",
            f"{_THOP}, thop.profile",
            "module hooks; biases not counted",
            _rules(
                batchnorm=({"out": 4}, "batch norm, 4 per element"),
                avg_pool=({"out": 1}, "average pool, 1 per output element"),
                adaptive_avg_pool=({"in": 1, "out": 1}, "adaptive pool, 1 per input and 1 per output element"),
                global_avg_pool=({"in": 1, "out": 1}, "global pool, 1 per input and 1 per output element"),
            ),
        ),
        MacsConvention(
            "fvcore",
            "fvcore 0.1.5.post20221221, FlopCountAnalysis(...).total()",
            "a trace of aten operators with handles for a few; biases not counted",
            _rules(
                batchnorm=({"out": 2}, "batch norm, 2 per element"),
                adaptive_avg_pool=({"in": 1}, "adaptive pool, 1 per input element"),
                global_avg_pool=({"in": 1}, "global pool, 1 per input element"),
                global_avg_pool__function=({"in": 1}, "global pool, 1 per input element"),
            ),
        ),
        MacsConvention(
            "torchinfo",
            "torchinfo 1.8.0, summary(...).total_mult_adds",
            "modules with parameters only: their MACs plus bias adds, and a batch norm's parameter count",
            _rules(
                conv2d=_BIAS,
                linear=_BIAS,
                batchnorm=({"affine": 1}, "batch norm: its gamma and beta count, once (not per element)"),
            ),
        ),
        MacsConvention(
            "torchprofile",
            "torchprofile 0.1.0, profile_macs",
            "a trace of aten operators; biases not counted",
            _rules(
                batchnorm=({"out": 1}, "batch norm, 1 per element"),
                avg_pool=({"out": 1}, "average pool, 1 per output element"),
                adaptive_avg_pool=({"out": 1}, "adaptive pool, 1 per output element"),
                global_avg_pool=({"out": 1}, "global pool, 1 per output element"),
                global_avg_pool__function=({"out": 1}, "global pool, 1 per output element"),
                global_avg_pool__mean=({"out": 1}, "global pool as x.mean, 1 per output element"),
                mul=({"out": 1}, "elementwise multiply (squeeze-excite scaling), 1 per element"),
            ),
        ),
    )
}
PAPER = CONVENTIONS["paper"]
# The operator types tools/peer_counts.py measured (in a probe or a measured model; a test keeps this
# true): elsewhere a tool may count what no rule here says, and a report says so.
MEASURED = frozenset(
    {
        "adaptive_avg_pool",
        "add",
        "avg_pool",
        "batchnorm",
        "channel_shuffle",
        "concat",
        "conv2d",
        "dropout",
        "global_avg_pool",
        "hard_sigmoid",
        "hard_swish",
        "linear",
        "max_pool",
        "mul",
        "relu",
        "relu6",
        "sigmoid",
        "silu",
        "slice",
    }
)


def get_convention(name: MacsConvention | str) -> MacsConvention:
    """The convention of that name (one is returned as it is)."""
    if isinstance(name, MacsConvention):
        return name
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise UsageError(
            f"unknown MACs convention '{name}'{did_you_mean(name, CONVENTIONS)} (conventions: {', '.join(CONVENTIONS)})"
        ) from None


def rule_of(convention: MacsConvention, op: Any) -> Rule | None:
    """The rule ``convention`` has for a layer of operator ``op`` (how its PyTorch code calls it included)."""
    return convention.rule(op.op_name, getattr(op, "pytorch", "module"))


def added(rule: Rule, inputs: tuple[Any, ...], output: Any, affine: Any, biased: bool) -> Any:
    """What ``rule`` adds to the paper's MACs for one layer (a number, or a sympy expression)."""
    from costmodel.ops import product

    out = product(output)
    values = {"out": out, "in": product(inputs[0]) if inputs else 0, "bias": out if biased else 0, "affine": affine}
    return sum((weight * values[q] for q, weight in rule.terms), 0)


_SHORT = {"out": "out", "in": "in", "bias": "bias", "affine": "γ+β"}


def conventions_table() -> tuple[list[str], list[list[str]], list[dict[str, Any]]]:
    """Every convention's rules: (headers, rows) as the docs print them, one row per operator type and a
    column per convention, and the JSON records. Quantities are per layer: ``out``/``in`` its
    output/input elements, ``bias`` its output elements where it has a bias, ``γ+β`` a batch norm's
    affine values."""
    ops: list[str] = []
    for convention in CONVENTIONS.values():
        ops += [rule.op for rule in convention.rules if rule.op not in ops]
    rows = []
    for op in ops:
        cells = []
        for convention in CONVENTIONS.values():
            rule = next((r for r in convention.rules if r.op == op), None)
            terms = rule.terms if rule else ()
            cells.append(" + ".join(f"{w}×{_SHORT[q]}" if w != 1 else _SHORT[q] for q, w in terms) or "0")
        rows.append([op, *cells])
    rows.append(["measured on", *(c.tool.split(",")[0] if c.rules else "" for c in CONVENTIONS.values())])
    records = [
        {
            "name": c.name,
            "tool": c.tool,
            "description": c.description,
            "rules": [{"op": r.op, "terms": dict(r.terms), "why": r.why} for r in c.rules],
        }
        for c in CONVENTIONS.values()
    ]
    return ["operator", *CONVENTIONS], rows, records
