"""What ``costmodel expr`` prints: a closed form as text, LaTeX or JSON."""

from __future__ import annotations

import json
from typing import Any

import sympy

from costmodel import intmath, symbolic
from costmodel.model import Model
from costmodel.report import plain_number


def _form(model: Model, value: Any, fixed: dict[Any, Any], smooth: bool) -> Any:
    value = sympy.sympify(value)
    if fixed:
        value = value.subs(fixed)
    return symbolic.smooth(value) if smooth else value


def _text(value: Any, fmt: str) -> str:
    return sympy.latex(value) if fmt == "latex" else sympy.sstr(value)


def expression_output(
    model: Model,
    metric: str,
    counting: str,
    fixed_values: dict[str, Any],
    *,
    per_layer: bool = False,
    per_type: bool = False,
    smooth: bool = False,
    fmt: str = "text",
) -> str:
    fixed = symbolic.partial_substitution(model, fixed_values)
    total = _form(model, symbolic.closed_form(model, metric, counting), fixed, smooth)
    parts: dict[str, Any] = {}
    if per_layer:
        parts = symbolic.per_layer(model, metric, counting)
    elif per_type:
        parts = symbolic.per_op_type(model, metric, counting)
    parts = {name: _form(model, v, fixed, smooth) for name, v in parts.items()}
    free = sorted(total.free_symbols | set().union(*(v.free_symbols for v in parts.values())), key=str)
    defaults = {str(s): plain_number(model.spec.symbols[str(s)].default) for s in free}
    if fmt == "json":
        data: dict[str, Any] = {
            "model": model.name,
            "metric": metric,
            "counting": counting,
            "form": "smooth" if smooth else "exact",
            "expression": sympy.sstr(intmath.expand_make_divisible(total)),
            "symbols": defaults,
            "fixed": {name: plain_number(v) for name, v in sorted(fixed_values.items())},
        }
        if parts:
            data["parts"] = {name: sympy.sstr(intmath.expand_make_divisible(v)) for name, v in parts.items()}
        return json.dumps(data, indent=2) + "\n"
    lines = []
    label = f"{metric} of {model.name} ({'smooth' if smooth else 'exact'}, counting: {counting})"
    for name, value in parts.items():
        lines.append(f"{name}: {_text(value, fmt)}")
    if parts:
        lines.append("")
    if smooth and fmt == "text":
        roles = (model.roles.width, model.roles.resolution)
        scaling = [model.sympy_symbols[s] for s in roles if s is not None]
        terms = symbolic.leading_terms(total, scaling) if scaling else []
        lines.append(f"{label}:")
        lines.append(f"  {_text(total, fmt)}")
        if len(terms) > 1:
            lines.append("leading terms:")
            lines.extend(f"  {sympy.sstr(t.coefficient)} * {sympy.sstr(t.monomial)}" for t in terms)
    else:
        lines.append(f"{label}:" if fmt == "text" else f"% {label}")
        lines.append(_text(total, fmt))
    if fmt == "text" and defaults:
        lines.append("symbols: " + ", ".join(f"{k} (default {v})" for k, v in defaults.items()))
    return "\n".join(lines) + "\n"
