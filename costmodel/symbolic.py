"""Closed forms of a model's costs: exact (with its floors, ceilings and conditions) and smooth.

The exact form is what the graph gives when its symbols are sympy symbols; evaluated at any valid
point it equals the integer count there. The smooth form relaxes every rounding (floor(x) → x,
max(8, floor(32·α)) → 32·α, make_divisible(v) → v) and expands, which shows the scaling law, e.g.
MobileNet v1's MACs as a polynomial in α and ρ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from costmodel.conventions import DEFAULT, Counting
from costmodel.model import Model, Point

METRICS = ("params", "macs", "flops", "other_ops")


def _metric(costs_like: Any, metric: str) -> Any:
    if metric == "flops":
        return 2 * costs_like.macs
    return getattr(costs_like, metric)


def closed_form(model: Model, metric: str = "macs", counting: Counting | str = DEFAULT) -> Any:
    """The exact total of ``metric`` as a sympy expression in the model's symbols."""
    return sympy.sympify(_metric(model.symbolic_costs(counting), metric))


def per_layer(model: Model, metric: str = "macs", counting: Counting | str = DEFAULT) -> dict[str, Any]:
    """Exact closed forms per layer, leaving out layers whose count is identically zero."""
    rows = {}
    for layer in model.symbolic_costs(counting).layers:
        value = sympy.sympify(_metric(layer, metric))
        if value != 0:
            rows[layer.name] = value
    return rows


def per_op_type(model: Model, metric: str = "macs", counting: Counting | str = DEFAULT) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for layer in model.symbolic_costs(counting).layers:
        value = sympy.sympify(_metric(layer, metric))
        if value != 0:
            rows[layer.label] = rows.get(layer.label, 0) + value
    return rows


def relax(expr: Any) -> Any:
    """Drop the rounding from a closed form, keeping the branch that scales."""
    if not isinstance(expr, sympy.Basic) or expr.is_Atom:
        return expr
    if isinstance(expr, (sympy.floor, sympy.ceiling)) or expr.func.__name__ == "make_divisible":
        return relax(expr.args[0])
    if isinstance(expr, sympy.Piecewise):
        branches = [relax(pair.expr) for pair in expr.args]
        nonzero = [b for b in branches if b != 0]
        if not nonzero:
            return sympy.Integer(0)
        # the fall-through branch is the general case (make_divisible's plain rounding); a
        # presence gate (value if condition else 0) keeps its value
        return branches[-1] if branches[-1] != 0 else nonzero[0]
    if isinstance(expr, (sympy.Max, sympy.Min)):
        args = [relax(a) for a in expr.args]
        return max(args, key=lambda a: (len(a.free_symbols), sympy.count_ops(a)))
    if isinstance(expr, sympy.logic.boolalg.Boolean):
        return expr
    return expr.func(*(relax(a) for a in expr.args))


def smooth(expr: Any) -> Any:
    return sympy.expand(relax(expr))


@dataclass(frozen=True)
class Term:
    coefficient: Any
    monomial: Any
    degree: int


def leading_terms(expr: Any, symbols: list[Any]) -> list[Term]:
    """The smooth form's terms, highest total degree in ``symbols`` first (the scaling law)."""
    expanded = smooth(expr)
    present = [s for s in symbols if s in expanded.free_symbols]
    if not present:
        return [Term(expanded, sympy.Integer(1), 0)]
    poly = sympy.Poly(expanded, *present)
    terms = []
    for powers, coeff in poly.terms():
        monomial = sympy.Mul(*(s**p for s, p in zip(present, powers, strict=True)))
        terms.append(Term(coeff, monomial, sum(powers)))
    terms.sort(key=lambda t: (-t.degree, -abs(float(t.coefficient)) if t.coefficient.is_number else 0))
    return terms


def partial_substitution(model: Model, point_values: dict[str, Any]) -> dict[Any, Any]:
    """sympy substitutions for the symbols a user fixed (the rest stay free)."""
    symbols = model.sympy_symbols
    return {symbols[name]: sympy.Rational(value.numerator, value.denominator) for name, value in point_values.items()}


def evaluate(expr: Any, model: Model, point: Point) -> int:
    """The closed form at a point, as an exact integer (used to prove it equals the count)."""
    value = sympy.sympify(expr).xreplace(model.substitution(point))
    if not value.is_Integer:
        raise ValueError(f"closed form did not evaluate to an integer: {value}")
    return int(value)
