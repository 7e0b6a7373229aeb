"""Closed forms as a person writes them: each distinct width and spatial size named once, and the
total as a sum over them.

A network evaluated with sympy symbols has few distinct widths (``max(8, floor(64·α))``,
``make_divisible(6·c4, 8)``) and spatial sizes (``ceiling(56·ρ)``), but they recur in every layer's
count. The symbolic evaluation names each one as it infers the shapes (``c1, c2, ...`` for widths,
``h1, h2, ...`` for spatial sides; :meth:`costmodel.evaluation._Evaluator.named`), defined once, in
dependency order; :func:`from_network` writes every layer's count in those names. The rounding
functions stay opaque: nothing is expanded into ``Piecewise``, nothing is simplified, so the form
stays as small as the network is and builds in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy

from costmodel import intmath, limits
from costmodel.errors import UserError
from costmodel.graph import Network

Expr = Any  # a sympy expression

# nodes of one choice or condition written out in the model's symbols (Inliner): a structural bound

# make_divisible as costmodel defines it, for readers of the printed form and for sympify's locals
MAKE_DIVISIBLE_TEXT = (
    "make_divisible(v, d) = max(d, d*floor(v/d + 1/2)), plus d where that is below 0.9*v "
    "(TF-slim's _make_divisible; make_divisible(v, d, m) floors at m instead of d)"
)


def sympify_locals() -> dict[str, Any]:
    """What ``sympy.sympify`` needs to read a printed form back (``make_divisible`` evaluates on numbers)."""
    return {"make_divisible": intmath.make_divisible_function()}


class InlineTooLarge(UserError):
    """A closed form whose one-expression form would be too large to build (see :class:`Inliner`)."""


@dataclass(frozen=True, repr=False)
class ClosedForm:
    """Named quantities and the counts written in them.

    ``definitions`` map each quantity's symbol to its expression in the model's symbols and earlier
    quantities (dependency order); ``parts`` are per-layer (or per-type) counts and ``body`` their
    total, in the quantities and the model's symbols.
    """

    definitions: dict[sympy.Symbol, Expr]
    body: Expr
    parts: dict[str, Expr] = field(default_factory=dict)

    def _repr_latex_(self) -> str:
        """In a notebook: the named quantities and the total, aligned."""
        lines = [f"{sympy.latex(s)} &= {sympy.latex(d)}" for s, d in self.definitions.items()]
        lines.append(f"\\text{{total}} &= {sympy.latex(self.body)}")
        return "$$\\begin{aligned}" + " \\\\ ".join(lines) + "\\end{aligned}$$"

    def __repr__(self) -> str:
        return f"<ClosedForm: {len(self.definitions)} named quantities, {len(self.parts)} parts>"

    def inline(self, expr: Expr | None = None) -> Expr:
        """``expr`` (default: the body) with every quantity replaced by its definition: one expression."""
        inliner = Inliner(self.definitions)
        return inliner(sympy.sympify(self.body if expr is None else expr))

    def values(self, substitution: Mapping[sympy.Symbol, Expr]) -> dict[sympy.Symbol, Expr]:
        """The model's symbols as given and every quantity's value there (numbers at a full point)."""
        values: dict[sympy.Symbol, Expr] = dict(substitution)
        for symbol, definition in self.definitions.items():
            values[symbol] = definition.xreplace(values)
        return values

    def evaluate(self, substitution: Mapping[sympy.Symbol, Expr], expr: Expr | None = None) -> Expr:
        """``expr`` (default: the body) at the symbols' values, quantity by quantity."""
        return sympy.sympify(self.body if expr is None else expr).xreplace(self.values(substitution))

    def used(self, exprs: Iterable[Expr]) -> dict[sympy.Symbol, Expr]:
        """The definitions ``exprs`` need, directly or through other definitions (in order)."""
        needed: set[sympy.Symbol] = set()
        stack = [s for e in exprs for s in sympy.sympify(e).free_symbols if s in self.definitions]
        while stack:
            symbol = stack.pop()
            if symbol not in needed:
                needed.add(symbol)
                stack.extend(s for s in self.definitions[symbol].free_symbols if s in self.definitions)
        return {s: d for s, d in self.definitions.items() if s in needed}

    def fix(self, substitution: Mapping[sympy.Symbol, Expr]) -> ClosedForm:
        """The form with some model symbols fixed (what-if): quantities that become numbers are inlined."""
        if not substitution:
            return self
        known: dict[sympy.Symbol, Expr] = dict(substitution)
        definitions: dict[sympy.Symbol, Expr] = {}
        for symbol, definition in self.definitions.items():
            value = definition.xreplace(known)
            if value.is_Number:
                known[symbol] = value
            else:
                definitions[symbol] = value
        return ClosedForm(
            definitions,
            sympy.sympify(self.body).xreplace(known),
            {name: sympy.sympify(part).xreplace(known) for name, part in self.parts.items()},
        )


class Renamer:
    """The named quantities of a network put in place of their definitions in a count.

    What ``xreplace`` does, with a memo kept across counts: the forms of one network (parameters,
    MACs, each counting preset) share most of their subexpressions, the conditions of a layer's
    presence above all, and rebuilding a ``Piecewise`` costs a millisecond each time.
    """

    def __init__(self, mapping: Mapping[Expr, Expr]) -> None:
        self.memo: dict[Expr, Expr] = dict(mapping)

    @classmethod
    def of(cls, network: Network) -> Renamer:
        return cls({expr: symbol for symbol, expr in network.definitions.items()})

    def __call__(self, expr: Expr) -> Expr:
        done = self.memo.get(expr)
        if done is not None:
            return done
        if not expr.args:
            return expr
        args = [self(a) for a in expr.args]
        if all(new is old for new, old in zip(args, expr.args, strict=True)):
            result = expr
        elif isinstance(expr, (sympy.Piecewise, sympy.Max, sympy.Min)):
            # evaluated already: a name for an argument gives their evaluation nothing new to decide
            result = expr.func(*args, evaluate=False)
        else:
            result = expr.func(*args)
        self.memo[expr] = result
        return result


def from_network(
    network: Network, parts: Mapping[str, Expr], reserved: Iterable[str] = (), renamer: Renamer | None = None
) -> ClosedForm:
    """``parts`` (counts of a symbolic ``network``) written in the network's named quantities.

    The network named every width and spatial size as it inferred the shapes; what the counts hold
    besides (an attribute's own ``make_divisible(16·α, 8)``, a grouped conv's ``floor(c/g)``) is
    matched to those names, and whatever rounding is left is named ``q``, innermost first.
    ``reserved`` are names the model's own symbols already use; ``renamer`` (of this network) may be
    shared by the forms of one network.
    """
    definitions = dict(network.definitions)
    rename = renamer or Renamer.of(network)
    named = {name: rename(sympy.sympify(part)) for name, part in parts.items()}
    functions = [t for t in intmath.rounding_functions() if t is not sympy.Piecewise]
    leftover = sorted(
        {atom for part in named.values() for atom in part.atoms(*functions)},
        key=lambda a: (sympy.count_ops(a), sympy.default_sort_key(a)),
    )
    if leftover:
        taken = set(reserved) | {str(s) for s in definitions}
        extra: dict[Expr, sympy.Symbol] = {}
        for index, raw in enumerate(leftover, start=1):
            name = f"q{index}"
            while name in taken:
                name += "_"
            extra[raw] = sympy.Symbol(name, integer=True if raw.is_integer else None)
            definitions[extra[raw]] = Renamer({o: s for o, s in extra.items() if o != raw})(raw)
        rename = Renamer(extra)
        named = {name: rename(part) for name, part in named.items()}
    return ClosedForm(definitions, sympy.Add(*named.values()), named)


class Inliner:
    """Named quantities replaced by their definitions, each shared subexpression rebuilt once.

    ``xreplace`` would do, but for two things. It rebuilds a subexpression once per occurrence, not
    once, and a width that is a ``Piecewise`` (a layer that exists only under a condition) recurs in
    every condition downstream. And a condition on such a width (``c7 > 24``, ``c7`` the choice
    between two widths) inlined as a relation of a ``Piecewise`` is something sympy rewrites,
    as soon as it is a ``Piecewise``'s condition, through ``as_set`` and the inequality solver:
    seconds per condition, minutes for a network. Here such a relation is written out over the
    branches instead (``(p & (a > 24)) | (~p & (b > 24))`` for ``Piecewise((a, p), (b, True)) > 24``),
    which is the same condition and stays free of ``Piecewise``.

    The definitions may be numbers too: ``Inliner(values)(expr)`` is ``expr`` at a point, each shared
    subexpression evaluated once.

    Written out, a chain of layers each of which exists where the width the one before chose passes
    a bound doubles with every layer; past the ``formula_nodes`` limit (:mod:`costmodel.limits`) in one
    choice or condition the inlining stops with a :class:`InlineTooLarge` (the named form is as small
    as ever). Sums and
    products only grow with the network, and are not bounded.
    """

    def __init__(self, definitions: Mapping[sympy.Symbol, Expr]) -> None:
        self.memo: dict[Expr, Expr] = {}
        self.choices: dict[Expr, bool] = {}  # expression -> whether a Piecewise is in it
        self.sizes: dict[Expr, int] = {}  # expression -> its nodes, written out as a tree
        for symbol, definition in definitions.items():
            self.memo[symbol] = self(sympy.sympify(definition))

    def __call__(self, expr: Expr) -> Expr:
        done = self.memo.get(expr)
        if done is not None:
            return done
        if expr.is_Atom:
            return expr
        args = [self(a) for a in expr.args]
        if all(new is old for new, old in zip(args, expr.args, strict=True)):
            result = expr
        elif isinstance(expr, sympy.core.relational.Relational) and any(self.chooses(a) for a in args):
            result = self.relation(expr.func, args[0], args[1])
        else:
            if isinstance(expr, (sympy.Piecewise, sympy.logic.boolalg.Boolean)):  # where a chain doubles
                self.check(1 + sum(self.size(a) for a in args))
            result = expr.func(*args)
        self.memo[expr] = result
        return result

    def size(self, expr: Expr) -> int:
        """Nodes of ``expr`` written out as a tree (counted once per shared subexpression)."""
        found = self.sizes.get(expr)
        if found is None:
            found = 1 + sum(self.size(a) for a in expr.args)
            self.sizes[expr] = found
        return found

    def check(self, nodes: int) -> None:
        if nodes > limits.current().formula_nodes:
            raise InlineTooLarge(
                limits.past(
                    "formula_nodes",
                    "the closed form written out as one expression has too many nodes in one condition "
                    "(layers exist under conditions on widths that earlier conditions chose, one after another)",
                )
            )

    def chooses(self, expr: Expr) -> bool:
        """Whether ``expr`` holds a ``Piecewise`` (looked up once per shared subexpression)."""
        found = self.choices.get(expr)
        if found is None:
            found = isinstance(expr, sympy.Piecewise) or any(self.chooses(a) for a in expr.args)
            self.choices[expr] = found
        return found

    def relation(self, func: Any, lhs: Expr, rhs: Expr) -> Expr:
        left, right = self.branches(lhs), self.branches(rhs)
        self.check(sum(self.size(c) + self.size(v) for c, v in left) * len(right))
        self.check(sum(self.size(c) + self.size(v) for c, v in right) * len(left))
        return sympy.Or(*(sympy.And(p, q, func(a, b)) for p, a in left for q, b in right))

    def branches(self, expr: Expr) -> list[tuple[Expr, Expr]]:
        """``expr`` as (condition, value) pairs free of ``Piecewise``; the conditions exclude each other
        and one of them holds."""
        if not self.chooses(expr):
            return [(sympy.true, expr)]
        pairs: list[tuple[Expr, Expr]] = []
        if isinstance(expr, sympy.Piecewise):
            earlier: list[Expr] = []
            for value, cond in expr.args:
                here = sympy.And(cond, *(sympy.Not(c) for c in earlier))
                pairs.extend((sympy.And(here, inner), v) for inner, v in self.branches(value))
                earlier.append(cond)
                self.check(sum(self.size(c) + self.size(v) for c, v in pairs))
        else:
            combined: list[tuple[Expr, list[Expr]]] = [(sympy.true, [])]
            for arg in expr.args:
                combined = [(sympy.And(c, p), [*values, v]) for c, values in combined for p, v in self.branches(arg)]
                combined = [(c, values) for c, values in combined if c is not sympy.false]
                self.check(sum(self.size(c) + sum(self.size(v) for v in values) for c, values in combined))
            pairs = [(c, expr.func(*values)) for c, values in combined]
        return [(c, v) for c, v in pairs if c is not sympy.false]
