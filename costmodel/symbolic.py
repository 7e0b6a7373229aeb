"""Closed forms of a model's costs: exact (its floors, ceilings, make_divisible and conditions kept) and
smooth (the scaling law around a point).

The exact form is what the graph gives when its symbols are sympy symbols, written with each width and
spatial size named once (:mod:`costmodel.forms`); evaluated at any valid point it equals the integer
count there. The smooth form relaxes the rounding around a point (:mod:`costmodel.smooth`) and
expands: MobileNet v1's MACs are 539492352·α²ρ² + 28224000·αρ² + 1024·α·num_classes. The compiled
evaluator (:mod:`costmodel.compiled`) evaluates the exact form over arrays of points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from costmodel.conventions import DEFAULT, Counting, get_counting
from costmodel.errors import UsageError
from costmodel.forms import ClosedForm, Inliner, Renamer, from_network
from costmodel.model import Model, Point
from costmodel.smooth import continuous_symbols, relax_form

METRICS = ("params", "macs", "flops", "other_ops")


def _metric(costs_like: Any, metric: str) -> Any:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (metrics: {', '.join(METRICS)})")
    if metric == "flops":
        return 2 * costs_like.macs
    return getattr(costs_like, metric)


def form(model: Model, metric: str = "macs", counting: Counting | str = DEFAULT, by: str = "layer") -> ClosedForm:
    """The exact form of ``metric``: named quantities, and the count per layer (``by="layer"``) or per
    operator type (``by="type"``) and in total. Built once per model, metric, counting and grouping."""
    preset = get_counting(counting)
    cache: dict[tuple[str, Counting, str], ClosedForm] = model.__dict__.setdefault("_forms", {})
    key = (metric, preset, by)
    if key not in cache:
        parts: dict[str, Any] = {}
        for layer in model.symbolic_costs(preset).layers:
            value = sympy.sympify(_metric(layer, metric))
            if value != 0:
                name = layer.name if by == "layer" else layer.label
                parts[name] = parts.get(name, 0) + value
        reserved = set(model.spec.symbols)
        network = model.symbolic_network
        if "_renamer" not in model.__dict__:  # one per model: its forms share most subexpressions
            model.__dict__["_renamer"] = Renamer.of(network)
        cache[key] = from_network(network, parts, reserved, model.__dict__["_renamer"])
    return cache[key]


def closed_form(model: Model, metric: str = "macs", counting: Counting | str = DEFAULT) -> Any:
    """The exact total of ``metric`` as one sympy expression in the model's symbols."""
    return form(model, metric, counting).inline()


def per_layer(model: Model, metric: str = "macs", counting: Counting | str = DEFAULT) -> dict[str, Any]:
    """Exact closed forms per layer (one expression each), leaving out layers that count nothing."""
    return _inlined_parts(form(model, metric, counting))


def per_layer_at(
    model: Model, point: Point, metric: str = "macs", counting: Counting | str = DEFAULT
) -> dict[str, int]:
    """Each layer's exact closed form evaluated at ``point`` (layers that count nothing left out): the
    named form's parts with its quantities at the point, each shared quantity worked out once, which
    is what :func:`per_layer` then :func:`evaluate` give without writing every layer out first."""
    whole = form(model, metric, counting)
    inline = Inliner({**_at(model, point)[0], **whole.definitions})  # the form's own names too, in order
    result = {}
    for name, part in whole.parts.items():
        value = inline(sympy.sympify(part))
        if not value.is_Integer:
            raise ValueError(f"closed form of {name} did not evaluate to an integer: {value}")
        result[name] = int(value)
    return result


def per_op_type(model: Model, metric: str = "macs", counting: Counting | str = DEFAULT) -> dict[str, Any]:
    return _inlined_parts(form(model, metric, counting, by="type"))


def _inlined_parts(whole: ClosedForm) -> dict[str, Any]:
    """Each part of ``whole`` as one expression, the shared quantities written out once for all."""
    inline = Inliner(whole.definitions)
    return {name: inline(sympy.sympify(part)) for name, part in whole.parts.items()}


def substitution(model: Model, values: Mapping[str, Fraction]) -> dict[Any, Any]:
    """sympy substitutions for symbol values given by name."""
    symbols = model.sympy_symbols
    return {symbols[name]: sympy.Rational(v.numerator, v.denominator) for name, v in values.items()}


def _at(model: Model, point: Point) -> tuple[dict[Any, Any], Inliner]:
    """``model.substitution(point)`` (every quantity of the network at ``point``) and closed forms
    evaluated there, remembered for a few points with what they have evaluated: verify's per-layer
    check would otherwise work every quantity out again for each layer."""
    cache: dict[tuple[tuple[str, Fraction], ...], tuple[dict[Any, Any], Inliner]]
    cache = model.__dict__.setdefault("_substitutions", {})
    key = tuple(point.values.items())
    if key not in cache:
        if len(cache) >= 16:
            cache.clear()
        values = model.substitution(point)
        cache[key] = (values, Inliner(values))
    return cache[key]


def evaluate(expr: Any, model: Model, point: Point) -> int:
    """A closed form at a point, as an exact integer (used to prove it equals the count)."""
    value = _at(model, point)[1](sympy.sympify(expr))
    if not value.is_Integer:
        raise ValueError(f"closed form did not evaluate to an integer: {value}")
    return int(value)


def smooth(
    model: Model,
    metric: str = "macs",
    counting: Counting | str = DEFAULT,
    at: Point | None = None,
    fixed: Mapping[str, Fraction] | None = None,
    part: str | None = None,
    by: str = "layer",
    factors: bool = True,
) -> Any:
    """The scaling law of ``metric``: the exact form relaxed around ``at`` (default: the model's default
    point) and expanded to a polynomial in the free symbols. ``fixed`` symbols are substituted first;
    ``part`` relaxes one layer's (or type's) count instead of the total; without ``factors`` the
    widths are make_divisible's arguments (see :mod:`costmodel.smooth`)."""
    whole = form(model, metric, counting, by)
    point = at or model.default_point()
    given = substitution(model, fixed or {})
    fixed_form = whole.fix(given)
    expr = None if part is None else fixed_form.parts[part]
    symbols = model.sympy_symbols
    spatial = {symbols[model.roles.resolution]} if model.roles.resolution else set()
    return relax_form(fixed_form, _at(model, point)[0], continuous_symbols(symbols), spatial, expr, factors)


def compile(model: Model, metric: str = "macs", counting: Counting | str = DEFAULT, part: str | None = None) -> Any:
    """The exact form of ``metric`` as a vectorised NumPy function of the model's symbols (see
    :class:`costmodel.compiled.Evaluator`): ``compile(model, "macs")(alpha=alphas, resolution=sides)``."""
    from costmodel.compiled import Evaluator

    whole = form(model, metric, counting)
    spec = model.spec
    rho = model.roles.resolution
    base = model.base_resolution
    resolution = (rho, base) if rho is not None and base is not None else None
    sizes = tuple(model.symbolic_network.definitions)  # every named width and side
    expr = None if part is None else whole.parts[part]
    defaults = {name: symbol.default for name, symbol in spec.symbols.items()}
    return Evaluator(whole, model.sympy_symbols, defaults, expr, resolution, sizes, spec.symbols)


@dataclass(frozen=True)
class Term:
    coefficient: Any
    monomial: Any
    degree: int


def leading_terms(expr: Any, symbols: list[Any]) -> list[Term]:
    """A polynomial's terms in ``symbols`` (other symbols go into the coefficients), highest total
    degree first, then largest coefficient: the scaling law read off term by term."""
    expanded = sympy.expand(expr)
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


def scaled_point(model: Model, point: Point, factors: Mapping[str, Fraction]) -> Point:
    """``point`` with some symbols multiplied (``rho=1/2`` halves the input side)."""
    values = {name: value * factors.get(name, 1) for name, value in point.values.items()}
    rho = model.roles.resolution
    if rho is not None and rho in factors and model.base_resolution is not None:
        side = values[rho] * model.base_resolution
        if side.denominator != 1:
            raise UsageError(f"{rho} × {factors[rho]} gives a fractional input side {float(side):g}")
        others = {k: str(v) for k, v in values.items() if k != rho}
        return model.point(resolution=int(side), values=others)
    return model.point(values={k: str(v) for k, v in values.items()})
