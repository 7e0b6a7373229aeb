"""The scaling law: a closed form with its rounding relaxed around a point.

Every rounding is replaced by what it rounds, as a person reads a formula off the paper's table:
``floor(64·α)`` by ``64·α``, ``max(8, floor(64·α))`` by its branch that is active at the point.
Two roundings are systematic rather than noise, and keep what they do at the point: a spatial side
its rounding loss as a constant (``floor((H − 1)/2) + 1`` becomes ``H/2`` where ``H`` is even, and
the sides of a network that loses a pixel or two per layer stay what they are there), and
``make_divisible(v, 8)`` its factor (at α = 0.75 it widens a 12-channel layer to 16 and an 18-channel
one to 24, a third; the law keeps ``16/12 · v`` rather than pretend the layer is narrower).
What the point decides stays decided: the layers present there, and roundings of discrete
metaparameters alone (SqueezeNet's ``floor(i/freq)``), are taken at their values there. The result
expands to a polynomial in the continuous symbols.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sympy

from costmodel import intmath
from costmodel.forms import ClosedForm, Expr


def relax_form(
    form: ClosedForm,
    at: Mapping[sympy.Symbol, Expr],
    continuous: set[sympy.Symbol],
    spatial: set[sympy.Symbol] = frozenset(),  # type: ignore[assignment]
    expr: Expr | None = None,
    factors: bool = True,
) -> Expr:
    """``expr`` (default: the body) relaxed around the point ``at`` and expanded.

    ``at`` holds a value for every free symbol of the form; ``continuous`` are the symbols that take
    any value in a range (α, ρ, a squeeze ratio), the others count something (classes, a frequency);
    ``spatial`` are those that set the input side (ρ). Without ``factors``, ``make_divisible`` is
    relaxed to its argument too: the law of the unrounded widths.
    """
    values = form.values(at)
    depends: dict[sympy.Symbol, set[sympy.Symbol]] = {}
    relaxed: dict[sympy.Symbol, Expr] = {}
    relaxer = _Relaxer(values, continuous, set(spatial), depends, relaxed, factors)
    for symbol, definition in form.definitions.items():
        depends[symbol] = relaxer.continuous_in(definition)
        relaxed[symbol] = relaxer.relax(definition)
    return sympy.expand(relaxer.relax(sympy.sympify(form.body if expr is None else expr)))


class _Relaxer:
    def __init__(
        self,
        values: Mapping[sympy.Symbol, Expr],
        continuous: set[sympy.Symbol],
        spatial: set[sympy.Symbol],
        depends: dict[sympy.Symbol, set[sympy.Symbol]],
        relaxed: dict[sympy.Symbol, Expr],
        factors: bool,
    ) -> None:
        self.factors = factors
        self.values = values
        self.continuous = continuous
        self.spatial = spatial
        self.depends = depends  # quantity -> the continuous symbols it depends on
        self.relaxed = relaxed  # quantity -> its relaxed expression
        self.make_divisible = intmath.make_divisible_function()

    def continuous_in(self, expr: Expr) -> set[sympy.Symbol]:
        found: set[sympy.Symbol] = set()
        for symbol in sympy.sympify(expr).free_symbols:
            found |= self.depends.get(symbol, {symbol} & self.continuous)
        return found

    def value(self, expr: Expr) -> Expr:
        return sympy.sympify(expr).xreplace(self.values)

    def relax(self, expr: Expr) -> Expr:
        if expr.is_Atom:
            return self.relaxed.get(expr, expr)
        if isinstance(expr, sympy.Piecewise):
            for branch in expr.args:
                if bool(self.value(branch.cond)):
                    return self.relax(branch.expr)
            raise ValueError(f"no branch of {expr} holds at the point")
        if isinstance(expr, (sympy.floor, sympy.ceiling)):
            (argument,) = expr.args
            scaling = self.continuous_in(argument)
            if not scaling:
                return self.value(expr)  # a step of discrete metaparameters: as it is at the point
            if scaling <= self.spatial:  # a side: what this rounding loses at the point, as a constant
                return self.relax(argument) + (self.value(expr) - self.value(argument))
            constant, rest = sympy.expand(argument).as_coeff_Add()
            return self.relax(rest) + type(expr)(constant)
        if isinstance(expr, (sympy.Max, sympy.Min)):
            return self.relax(self._active(expr))
        if isinstance(expr, self.make_divisible):
            argument = self.relax(expr.args[0])
            unrounded = self.value(expr.args[0])
            if not self.continuous_in(expr.args[0]):
                return self.value(expr)
            if not self.factors or unrounded == 0:
                return argument
            return argument * (self.value(expr) / unrounded)
        return expr.func(*(self.relax(a) for a in expr.args))

    def _active(self, expr: Expr) -> Expr:
        """The argument of a max or min that decides its value at the point; in a tie, the one that
        scales (so that max(8, floor(32·α)) at α = 1/4 still grows with α)."""
        values = [self.value(a) for a in expr.args]
        best = max(values) if isinstance(expr, sympy.Max) else min(values)
        tied = [a for a, v in zip(expr.args, values, strict=True) if v == best]
        return max(tied, key=lambda a: (len(self.continuous_in(a)), sympy.count_ops(a)))


def continuous_symbols(symbols: Mapping[str, Any]) -> set[sympy.Symbol]:
    """The model's sympy symbols that are not integers (α, ρ, ratios)."""
    return {s for s in symbols.values() if not s.is_integer}
