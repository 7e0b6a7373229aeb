"""Exact closed forms over arrays of points: what sweeps, solvers and tables call.

:class:`Evaluator` compiles a closed form (its named quantities, then the count) into a small tree
of NumPy operations on exact rationals: every value is a numerator array and a denominator (None for
an integer), ``floor``/``ceiling`` are integer floor divisions, ``make_divisible`` and the presence
conditions compare cross products. Nothing goes through floating point, so a resolution of 450 gives
``ceil(112·450/224) = 225`` and not 226. A bound on every intermediate, worked out from the inputs'
ranges before the arrays are touched, chooses int64 where nothing can overflow and Python integers
(object arrays, slower, still exact) where something might.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from costmodel import intmath
from costmodel.forms import ClosedForm, Expr

INT64_LIMIT = 1 << 62  # every intermediate's bound stays below this for the int64 path
DECIMALS = 6  # float inputs are read as decimals of at most this many places (0.37 is 37/100)
CHUNK = 1 << 16  # points per pass: the arrays of one pass stay in cache
BROADCAST_POINTS = 1 << 18  # up to here a grid's inputs keep their own shapes (α down, sides across)

Value = tuple[Any, Any]  # (numerator, denominator or None): arrays, or Python ints for constants
Bound = tuple[int, int, int]  # bounds on |numerator|, on the denominator, and on |value|


class _Op:
    """One node of the compiled tree: its value on arrays, and a bound on every number it makes."""

    def run(self, env: dict[Any, Value]) -> Value:
        raise NotImplementedError

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        raise NotImplementedError


def _mul(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a * b


WIDE = "wide"  # env key: true where the arrays hold Python integers (object), which constants must join


class _Const(_Op):
    def __init__(self, value: Fraction) -> None:
        self.value: Value = (value.numerator, None if value.denominator == 1 else value.denominator)
        self.wide: Value = (
            np.array(value.numerator, dtype=object),
            None if value.denominator == 1 else np.array(value.denominator, dtype=object),
        )

    def run(self, env: dict[Any, Value]) -> Value:
        """As Python integers on the int64 path; as object scalars on the wide one, so that NumPy never
        turns a branch or a maximum of constants into int64 (which a huge value would then overflow)."""
        return self.wide if env.get(WIDE) else self.value

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        n, d = abs(self.value[0]), self.value[1] or 1
        return n, d, -(-n // d)


class _Symbol(_Op):
    def __init__(self, symbol: sympy.Symbol) -> None:
        self.symbol = symbol

    def run(self, env: dict[Any, Value]) -> Value:
        return env[self.symbol]

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        return env[self.symbol]


class _Add(_Op):
    def __init__(self, terms: list[_Op]) -> None:
        self.terms = terms

    def run(self, env: dict[Any, Value]) -> Value:
        n, d = self.terms[0].run(env)
        for term in self.terms[1:]:
            tn, td = term.run(env)
            if d is None and td is None:
                n = n + tn
            else:
                n, d = _mul(n, td) + _mul(tn, d), _mul(d, td)
        return n, d

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        n, d, v = self.terms[0].bound(env, check)
        for term in self.terms[1:]:
            tn, td, tv = term.bound(env, check)
            n, d, v = n * td + tn * d, d * td, v + tv
            check(n)
            check(d)
        return n, d, v


class _Mul(_Op):
    def __init__(self, factors: list[_Op]) -> None:
        self.factors = factors

    def run(self, env: dict[Any, Value]) -> Value:
        n, d = self.factors[0].run(env)
        for factor in self.factors[1:]:
            fn, fd = factor.run(env)
            n, d = n * fn, _mul(d, fd)
        return n, d

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        n, d, v = self.factors[0].bound(env, check)
        for factor in self.factors[1:]:
            fn, fd, fv = factor.bound(env, check)
            n, d, v = n * fn, d * fd, v * fv
            check(n)
            check(d)
        return n, d, v


class _Pow(_Op):
    def __init__(self, base: _Op, exponent: int) -> None:
        self.base, self.exponent = base, exponent

    def run(self, env: dict[Any, Value]) -> Value:
        n, d = self.base.run(env)
        k = abs(self.exponent)
        n, d = n**k, None if d is None else d**k
        if self.exponent > 0:
            return n, d
        sign = np.where(n < 0, -1, 1)
        return (1 if d is None else d) * sign, n * sign

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        n, d, v = self.base.bound(env, check)
        k = abs(self.exponent)
        n, d = n**k, d**k
        check(n)
        check(d)
        return (n, d, v**k) if self.exponent > 0 else (d, n, d)  # |1/x| <= d for a nonzero n/d


class _Round(_Op):
    """floor or ceiling: integer floor division of the numerator by the denominator."""

    def __init__(self, argument: _Op, ceiling: bool) -> None:
        self.argument, self.ceiling = argument, ceiling

    def run(self, env: dict[Any, Value]) -> Value:
        n, d = self.argument.run(env)
        if d is None:
            return n, None
        return (-((-n) // d) if self.ceiling else n // d), None

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        _, _, v = self.argument.bound(env, check)
        return v + 1, 1, v + 1


def _less(a: Value, b: Value) -> Any:
    return _mul(a[0], b[1]) < _mul(b[0], a[1])


def _equal(a: Value, b: Value) -> Any:
    return _mul(a[0], b[1]) == _mul(b[0], a[1])


def _where(mask: Any, a: Any, b: Any, env: dict[Any, Any]) -> Any:
    """np.where, kept in Python integers on the wide path: of two scalars (a point given as one value,
    whose ufunc results are Python scalars) it would make int64, which a huge value then overflows."""
    chosen = np.where(mask, a, b)
    return chosen.astype(object) if env.get(WIDE) and chosen.dtype != object else chosen


def _choose(mask: Any, a: Value, b: Value, env: dict[Any, Any]) -> Value:
    """a where mask, else b (a common denominator where either has one)."""
    if a[1] is None and b[1] is None:
        return _where(mask, a[0], b[0], env), None
    ad = 1 if a[1] is None else a[1]
    bd = 1 if b[1] is None else b[1]
    return _where(mask, a[0], b[0], env), _where(mask, ad, bd, env)


def _cross_bound(a: Bound, b: Bound, check: Callable[[int], None]) -> None:
    check(a[0] * b[1])
    check(b[0] * a[1])


def _join(bounds: list[Bound]) -> Bound:
    return max(b[0] for b in bounds), max(b[1] for b in bounds), max(b[2] for b in bounds)


class _Extremum(_Op):
    def __init__(self, args: list[_Op], largest: bool) -> None:
        self.args, self.largest = args, largest

    def run(self, env: dict[Any, Value]) -> Value:
        best = self.args[0].run(env)
        for arg in self.args[1:]:
            value = arg.run(env)
            better = _less(best, value) if self.largest else _less(value, best)
            best = _choose(better, value, best, env)
        return best

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        bounds = [a.bound(env, check) for a in self.args]
        for a in bounds:
            for b in bounds:
                _cross_bound(a, b, check)
        return _join(bounds)


class _MakeDivisible(_Op):
    """TF-slim's rule: max(low, divisor·floor(v/divisor + 1/2)), plus divisor where that lost > 10 %."""

    def __init__(self, value: _Op, divisor: int, low: _Op | None) -> None:
        self.value, self.divisor, self.low = value, divisor, low

    def run(self, env: dict[Any, Value]) -> Value:
        n, d = self.value.run(env)
        k = self.divisor
        den = 1 if d is None else d
        rounded = ((2 * n + k * den) // (2 * k * den)) * k  # floor(v/k + 1/2)·k
        rounded = np.maximum(rounded, k if self.low is None else self.low.run(env)[0])
        lost = 10 * rounded * den < 9 * n  # rounded < 0.9·v
        return _where(lost, rounded + k, rounded, env), None

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        n, d, v = self.value.bound(env, check)
        k = self.divisor
        check(2 * n + k * d)
        check(2 * k * d)
        rounded = max(v + k, k if self.low is None else self.low.bound(env, check)[2])
        check(10 * rounded * d)
        check(9 * n)
        return rounded + k, 1, rounded + k


class _Piecewise(_Op):
    def __init__(self, branches: list[tuple[_Op, _Condition]]) -> None:
        self.branches = branches

    def run(self, env: dict[Any, Value]) -> Value:
        result = self.branches[-1][0].run(env)
        for value, condition in reversed(self.branches[:-1]):
            result = _choose(condition.test(env), value.run(env), result, env)
        return result

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> Bound:
        bounds = [value.bound(env, check) for value, _ in self.branches]
        for _, condition in self.branches:
            condition.bound(env, check)
        return _join(bounds)


class _Condition:
    """A relation or a logical combination of relations, as a boolean array."""

    def __init__(self, kind: str, args: list[Any]) -> None:
        self.kind, self.args = kind, args

    def test(self, env: dict[Any, Value]) -> Any:
        kind = self.kind
        if kind == "true":
            return True
        if kind == "false":
            return False
        if kind in ("and", "or"):
            tests = [a.test(env) for a in self.args]
            combine = np.logical_and if kind == "and" else np.logical_or
            result = tests[0]
            for t in tests[1:]:
                result = combine(result, t)
            return result
        if kind == "not":
            return np.logical_not(self.args[0].test(env))
        a, b = (arg.run(env) for arg in self.args)
        if kind in ("==", "!="):
            equal = np.asarray(_equal(a, b))
            return equal if kind == "==" else ~equal
        if kind in ("<", ">="):
            less = np.asarray(_less(a, b))
            return less if kind == "<" else ~less
        greater = np.asarray(_less(b, a))  # ">" or "<="
        return greater if kind == ">" else ~greater

    def bound(self, env: dict[Any, Bound], check: Callable[[int], None]) -> None:
        if self.kind in ("and", "or", "not"):
            for a in self.args:
                a.bound(env, check)
        elif self.kind not in ("true", "false"):
            a, b = (arg.bound(env, check) for arg in self.args)
            _cross_bound(a, b, check)


_RELATIONS = {sympy.Eq: "==", sympy.Ne: "!=", sympy.StrictLessThan: "<", sympy.StrictGreaterThan: ">"}
_RELATIONS.update({sympy.LessThan: "<=", sympy.GreaterThan: ">="})


def _compile(expr: Expr) -> _Op:
    expr = sympy.sympify(expr)
    if expr.is_Rational:
        return _Const(intmath.rational(expr))
    if expr.is_Symbol:
        return _Symbol(expr)
    if isinstance(expr, sympy.Add):
        return _Add([_compile(a) for a in expr.args])
    if isinstance(expr, sympy.Mul):
        return _Mul([_compile(a) for a in expr.args])
    if isinstance(expr, sympy.Pow) and expr.exp.is_Integer:
        return _Pow(_compile(expr.base), int(expr.exp))
    if isinstance(expr, (sympy.floor, sympy.ceiling)):
        return _Round(_compile(expr.args[0]), isinstance(expr, sympy.ceiling))
    if isinstance(expr, (sympy.Max, sympy.Min)):
        return _Extremum([_compile(a) for a in expr.args], isinstance(expr, sympy.Max))
    if isinstance(expr, intmath.make_divisible_function()):
        if len(expr.args) > 2 and not expr.args[2].is_integer:
            raise ValueError(f"cannot compile make_divisible with a fractional floor: {expr}")
        low = _compile(expr.args[2]) if len(expr.args) > 2 else None
        return _MakeDivisible(_compile(expr.args[0]), int(expr.args[1]), low)
    if isinstance(expr, sympy.Mod):
        a, b = expr.args
        return _compile(a - b * sympy.floor(a / b))
    if isinstance(expr, sympy.Piecewise):
        return _Piecewise([(_compile(branch.expr), _condition(branch.cond)) for branch in expr.args])
    raise ValueError(f"cannot compile {type(expr).__name__}: {expr}")


def _condition(cond: Any) -> _Condition:
    if cond is sympy.true or cond is True:
        return _Condition("true", [])
    if cond is sympy.false or cond is False:
        return _Condition("false", [])
    if isinstance(cond, (sympy.And, sympy.Or)):
        return _Condition("and" if isinstance(cond, sympy.And) else "or", [_condition(a) for a in cond.args])
    if isinstance(cond, sympy.Not):
        return _Condition("not", [_condition(cond.args[0])])
    for relation, kind in _RELATIONS.items():
        if isinstance(cond, relation):
            return _Condition(kind, [_compile(cond.lhs), _compile(cond.rhs)])
    raise ValueError(f"cannot compile the condition {cond}")


class Evaluator:
    """A closed form as a function of arrays of points, exact (see the module docstring).

    Call it with one keyword per symbol of the model, by name (``alpha=``, ``num_classes=``...), or
    ``resolution=`` for the input side; symbols left out take their defaults. A value is an int, a
    Fraction, a decimal string, a float (read as a decimal of at most six places), or an array of
    those (or a ``(numerators, denominators)`` pair of integer arrays). Arrays broadcast together.
    """

    def __init__(
        self,
        form: ClosedForm,
        symbols: Mapping[str, sympy.Symbol],
        defaults: Mapping[str, Fraction],
        expr: Expr | None = None,
        resolution: tuple[str, Fraction] | None = None,
        sizes: tuple[sympy.Symbol, ...] = (),
        domains: Mapping[str, Any] | None = None,
        exprs: Mapping[str, Expr] | None = None,
    ) -> None:
        self.symbols = dict(symbols)
        self.defaults = dict(defaults)
        self.resolution = resolution  # (the resolution multiplier's name, the side at 1)
        self.definitions = [(symbol, _compile(definition)) for symbol, definition in form.definitions.items()]
        # what a call computes: the body (or ``expr``), or several named expressions at once (``many``)
        wanted = dict(exprs) if exprs is not None else {"": form.body if expr is None else expr}
        self.results = {name: _compile(e) for name, e in wanted.items()}
        self.sizes = sizes  # widths and sides: every one must be at least 1
        self._size_set = frozenset(sizes)  # looked up once per definition per call
        self.domains = dict(domains or {})  # name -> costmodel.spec.Symbol (integer, bounds)

    def __call__(self, resolution: Any = None, **values: Any) -> np.ndarray:
        return next(iter(self.many(resolution, **values).values()))

    def many(self, resolution: Any = None, **values: Any) -> dict[str, np.ndarray]:
        """Every named expression at the points (see the class docstring for the arguments)."""
        unknown = set(values) - set(self.symbols)
        if unknown:
            raise ValueError(f"no symbol {sorted(unknown)[0]!r} (symbols: {', '.join(self.symbols)})")
        inputs = {name: _exact(values.get(name, self.defaults[name]), name) for name in self.symbols}
        if resolution is not None:
            if self.resolution is None:
                raise ValueError("this model's input does not scale: it takes no resolution")
            name, base = self.resolution
            if name in values:
                raise ValueError(f"give either resolution or {name}, not both")
            sides, ones = _exact(resolution, "resolution")
            if ones is not None and np.any(ones != 1):
                raise ValueError("resolution must be whole numbers of pixels")
            inputs[name] = (np.asarray(sides) * base.denominator, np.full_like(sides, base.numerator))
        for name, (n, d) in inputs.items():
            self._check_domain(name, n, d)
        shape = np.broadcast_shapes(*(np.shape(n) for n, _ in inputs.values()))
        size = int(np.prod(shape, dtype=np.int64))
        if 0 < size <= BROADCAST_POINTS:
            # arrays kept in their own shapes: a width that depends on α alone is worked out once per α,
            # not once per (α, side) of a grid
            given = {
                self.symbols[name]: (np.asarray(n), None if d is None else np.asarray(d))
                for name, (n, d) in inputs.items()
            }
            dtype = np.int64 if self._fits(given) else object
            part: dict[Any, Any] = {s: (_cast(n, dtype), _cast(d, dtype)) for s, (n, d) in given.items()}
            part[WIDE] = dtype is object
            return {name: np.array(np.broadcast_to(v, shape)) for name, v in self._run(part, shape).items()}
        flat = {
            self.symbols[name]: (
                np.broadcast_to(n, shape).reshape(-1),
                None if d is None else np.broadcast_to(d, shape).reshape(-1),
            )
            for name, (n, d) in inputs.items()
        }
        dtype = np.int64 if self._fits(flat) else object
        out = {name: np.empty(size, dtype=dtype) for name in self.results}
        for start in range(0, size, CHUNK):
            part = {s: (_cast(n[start : start + CHUNK], dtype), _cast(d, dtype, start)) for s, (n, d) in flat.items()}
            part[WIDE] = dtype is object
            for name, values_ in self._run(part, (min(CHUNK, size - start),)).items():
                out[name][start : start + CHUNK] = values_
        return {name: array.reshape(shape) for name, array in out.items()}

    def _check_domain(self, name: str, n: Any, d: Any) -> None:
        """Values outside a symbol's declared domain (alpha <= 0, a fractional class count) are refused."""
        symbol = self.domains.get(name)
        if symbol is None:
            return
        den = 1 if d is None else d
        if symbol.integer and np.any(np.asarray(n) % den != 0):
            raise ValueError(f"{name} must be an integer")
        for op, bound in symbol.bounds:
            lhs, rhs = np.asarray(n) * bound.denominator, bound.numerator * np.asarray(den)
            ok = {">": lhs > rhs, ">=": lhs >= rhs, "<": lhs < rhs, "<=": lhs <= rhs}[op]
            if not np.all(ok):
                raise ValueError(f"{name} must be {op} {bound}")

    def _fits(self, flat: Mapping[sympy.Symbol, tuple[Any, Any]]) -> bool:
        """Whether every number the evaluation makes stays within int64, from the inputs' ranges."""
        bounds: dict[Any, Bound] = {}
        for symbol, (n, d) in flat.items():
            if n.size == 0:
                bounds[symbol] = (0, 1, 0)
                continue
            top = max(abs(int(np.max(n))), abs(int(np.min(n))))
            bottom = 1 if d is None else max(1, int(np.min(d)))
            bounds[symbol] = (top, 1 if d is None else max(1, int(np.max(d))), -(-top // bottom))
        largest = 0

        def check(value: int) -> None:
            nonlocal largest
            largest = max(largest, value)

        for symbol, op in self.definitions:
            bounds[symbol] = op.bound(bounds, check)
        for result in self.results.values():
            check(max(result.bound(bounds, check)[:2]))
        return largest < INT64_LIMIT

    def _run(self, env: dict[Any, Value], shape: tuple[int, ...]) -> dict[str, Any]:
        for symbol, op in self.definitions:
            env[symbol] = op.run(env)
            if symbol in self._size_set and np.any(np.asarray(env[symbol][0]) < 1):
                what = "pixels" if str(symbol).startswith("h") else "channels"
                raise ValueError(f"not a valid point everywhere: a layer would have no {what} ({symbol} < 1)")
        results = {}
        for name, result in self.results.items():
            n, d = result.run(env)
            if d is not None:
                if np.any(n % d != 0):
                    raise ValueError("the count is not a whole number at some points: are they valid points?")
                n = n // d
            results[name] = np.broadcast_to(n, shape)
        return results


def _cast(array: Any, dtype: Any, start: int | None = None) -> Any:
    if array is None:
        return None
    if start is not None:
        array = array[start : start + CHUNK]
    return array.astype(dtype) if array.dtype != dtype else array


def _exact(value: Any, name: str) -> tuple[Any, Any]:
    """A user's values as exact (numerators, denominators or None) integer arrays."""
    if isinstance(value, tuple) and len(value) == 2:
        n, d = (np.asarray(v) for v in value)
        if not (np.issubdtype(n.dtype, np.integer) and np.issubdtype(d.dtype, np.integer)) or np.any(d <= 0):
            raise ValueError(f"{name}: a (numerators, denominators) pair takes integer arrays, denominators > 0")
        return n.astype(np.int64), d.astype(np.int64)
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64), None
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}: values must be finite")
        scale = 10**DECIMALS
        scaled = np.round(array * scale)
        if np.any(np.abs(scaled) >= 2**53) or np.any(
            np.abs(scaled - array * scale) > 1e-6 * np.maximum(1, np.abs(array))
        ):
            raise ValueError(f"{name}: floats are read as decimals of at most {DECIMALS} places; pass Fractions")
        n = scaled.astype(np.int64)
        g = np.gcd(n, scale)
        return n // g, scale // g
    try:
        fractions = [intmath.exact_number(v) for v in array.reshape(-1)]
    except (ValueError, ZeroDivisionError, TypeError):
        raise ValueError(f"{name}: values must be numbers") from None
    n = np.array([f.numerator for f in fractions], dtype=object).reshape(array.shape)
    d = np.array([f.denominator for f in fractions], dtype=object).reshape(array.shape)
    if all(abs(f.numerator) < 2**62 and f.denominator < 2**62 for f in fractions):
        n, d = n.astype(np.int64), d.astype(np.int64)
    return n, d
