"""The whitelist grammar of spec expressions.

A spec can come from anyone, so its text is never handed to ``eval``, ``exec``, ``sympify`` or
``parse_expr``. Python's ``ast`` parses it; only numbers, names, ``$param`` references, arithmetic with
small integer powers, comparisons and a fixed set of functions are accepted; anything else is an
``ExpressionError`` naming what is not allowed. The accepted tree is compiled into closures that run
on the numbers of :mod:`costmodel.intmath`, so one expression evaluates to an exact number or to a
sympy expression depending on what its names are bound to.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from costmodel import intmath, limits

MAX_TEXT = limits.Limits().expression  # the default; COSTMODEL_LIMITS=expression=N changes it
MAX_EXPONENT = 8
MAX_LITERAL = 10**12
MAX_POWER_BITS = 256
MAX_DEPTH = 200  # nesting levels (a 400-character sum nests 199), far below the recursion limit
MAX_DECIMAL_EXPONENT = 100  # 1e100 is already past MAX_LITERAL; Fraction("1e99999999") would take minutes
PARAM_PREFIX = "_p_"
INPUT_CHANNELS = "in_channels"
WIDTH_FUNCTION = "width"  # width(c): c through the spec's width rule, as an `out:` value would be
WIDTH_LOOKUP = "_width"  # what a lookup is asked for to apply it (not a name a spec can write)

Lookup = Callable[[str], Any]


class ExpressionError(ValueError):
    """An expression outside the grammar, or one that cannot be evaluated."""


def _div(a: Any, b: Any) -> Any:
    if b == 0:  # a number, or a sympy expression that is literally zero (x - x)
        raise ExpressionError("division by zero")
    if intmath.is_number(a) and intmath.is_number(b):
        return intmath.to_int(Fraction(a) / Fraction(b))
    return a / b


def is_condition(value: Any) -> bool:
    """True/False, or a sympy relation or logical combination (a symbol is a number, not a condition)."""
    if isinstance(value, bool):
        return True
    return bool(getattr(value, "is_Relational", False) or getattr(value, "is_Boolean", False))


def _number(value: Any) -> Any:
    if is_condition(value):
        raise ExpressionError("a condition cannot be used as a number")
    return value


def _condition(value: Any) -> Any:
    if not is_condition(value):
        raise ExpressionError("a number cannot be used as a condition (compare it, e.g. `$s == 1`)")
    return value


def _floordiv(a: Any, b: Any) -> Any:
    if b == 0:
        raise ExpressionError("division by zero")
    return intmath.floor_div(a, b)


def _power(base: Any, power: int) -> Any:
    """base ** power, refusing results past MAX_POWER_BITS (nested powers grow doubly exponentially)."""
    if intmath.is_number(base):
        exact = Fraction(base)
        bits = max(abs(exact.numerator).bit_length(), exact.denominator.bit_length())
        if bits * abs(power) > MAX_POWER_BITS:
            raise ExpressionError("a power in this expression is too large")
        if power < 0:
            return _div(1, base**-power)
    elif power < 0:
        return 1 / base**-power
    return base**power


def _mod(a: Any, b: Any) -> Any:
    return a - b * _floordiv(a, b)


def _make_divisible(value: Any, divisor: Any = 8, min_value: Any = None) -> Any:
    if not (isinstance(divisor, int) and divisor > 0):
        raise ExpressionError("make_divisible: the divisor must be a positive integer")
    return intmath.make_divisible(value, divisor, min_value)


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    # name: (implementation, min args, max args)
    "floor": (intmath.floor_value, 1, 1),
    "ceil": (intmath.ceil_value, 1, 1),
    "min": (intmath.smin, 2, 8),
    "max": (intmath.smax, 2, 8),
    "make_divisible": (_make_divisible, 1, 3),
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
}

_COMPARE: dict[type, str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}

_PARAM = re.compile(r"(?<![A-Za-z0-9_])\$([A-Za-z][A-Za-z0-9_]*)")  # not inside a name: a$b is an error


@dataclass(frozen=True)
class Expr:
    """A compiled spec expression.

    ``fixed`` marks a width wrapped in ``fixed(...)`` (not scaled by the width rule); ``param`` is set
    when the whole expression is one ``$param`` reference, so fixedness can follow the binding.
    """

    text: str
    names: frozenset[str]
    params: frozenset[str]
    fixed: bool = False
    param: str | None = None
    condition: bool | None = False
    """True for a comparison or logic (``$s == 1``), False for arithmetic, None for a bare name or
    ``$param`` (whose kind is its binding's): what lets a spec be checked before it is evaluated."""
    _fn: Callable[[Lookup], Any] = field(repr=False, compare=False, default=lambda lookup: 0)

    def evaluate(self, lookup: Lookup) -> Any:
        return self._fn(lookup)

    @property
    def is_constant(self) -> bool:
        return not self.names and not self.params


def constant(value: int | Fraction) -> Expr:
    return Expr(text=str(value), names=frozenset(), params=frozenset(), _fn=lambda lookup: value)


def parse(source: Any) -> Expr:
    """Compile a YAML scalar (number or string) into an :class:`Expr`, or raise ExpressionError."""
    if isinstance(source, bool):
        raise ExpressionError(f"expected a number or an expression, got {str(source).lower()}")
    if isinstance(source, int):
        _check_literal(source)
        return constant(source)
    if isinstance(source, float):
        if not math.isfinite(source):
            raise ExpressionError(f"expected a finite number, got {source}")
        return parse(repr(source))
    if not isinstance(source, str):
        raise ExpressionError(f"expected a number or an expression, got {type(source).__name__}")
    text = source.strip()
    if not text:
        raise ExpressionError("empty expression")
    if text == "in":  # shorthand for the input's channel count (depthwise convs)
        text = INPUT_CHANNELS
    most = limits.current().expression
    if len(text) > most:
        raise ExpressionError(
            f"expression longer than {most} characters (raise it with {limits.ENVIRONMENT}=expression=N)"
        )
    python_text = _PARAM.sub(lambda m: PARAM_PREFIX + m.group(1), text)
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence" in a string: refused below anyway
            warnings.simplefilter("ignore")
            tree = ast.parse(python_text, mode="eval")
    except SyntaxError:
        raise ExpressionError(f"not an arithmetic expression: {text!r}") from None
    except RecursionError:
        raise ExpressionError(f"expression nested more than {MAX_DEPTH} levels deep") from None
    compiler = _Compiler(python_text)
    body = tree.body
    fixed = False
    if isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and body.func.id == "fixed":
        if len(body.args) != 1 or body.keywords:
            raise ExpressionError("fixed() takes exactly one argument")
        body = body.args[0]
        fixed = True
    try:
        fn = compiler.compile(body)
    except RecursionError:  # only when the caller's own stack is nearly exhausted
        raise ExpressionError(f"expression nested more than {MAX_DEPTH} levels deep") from None
    params = frozenset(n[len(PARAM_PREFIX) :] for n in compiler.names if n.startswith(PARAM_PREFIX))
    names = frozenset(n for n in compiler.names if not n.startswith(PARAM_PREFIX))
    param = None
    if isinstance(body, ast.Name) and body.id.startswith(PARAM_PREFIX):
        param = body.id[len(PARAM_PREFIX) :]
    return Expr(text=text, names=names, params=params, fixed=fixed, param=param, condition=_kind(body), _fn=fn)


def _kind(body: ast.AST) -> bool | None:
    """Whether the expression is a condition, a number, or (a bare name) either."""
    if isinstance(body, (ast.Compare, ast.BoolOp)) or (isinstance(body, ast.UnaryOp) and isinstance(body.op, ast.Not)):
        return True
    return None if isinstance(body, ast.Name) else False


def _check_literal(value: int | Fraction) -> None:
    size = abs(Fraction(value))
    if size > MAX_LITERAL:
        shown = str(value) if size < 10**30 else "with more than 30 digits"
        raise ExpressionError(f"number {shown} is too large (limit {MAX_LITERAL:.0e})")


class _Compiler:
    def __init__(self, text: str) -> None:
        self.text = text
        self.names: set[str] = set()
        self.depth = 0

    def compile(self, node: ast.AST) -> Callable[[Lookup], Any]:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise ExpressionError(f"{_describe(node)} is not allowed in an expression")
        if self.depth >= MAX_DEPTH:
            raise ExpressionError(f"expression nested more than {MAX_DEPTH} levels deep")
        self.depth += 1
        try:
            compiled: Callable[[Lookup], Any] = method(node)
            return compiled
        finally:
            self.depth -= 1

    def _Constant(self, node: ast.Constant) -> Callable[[Lookup], Any]:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExpressionError(f"{value!r} is not a number")
        if isinstance(value, float):
            literal = (ast.get_source_segment(self.text, node) or repr(value)).replace("_", "")
            if not math.isfinite(value) or abs(value) > MAX_LITERAL:
                raise ExpressionError(f"number {literal} is too large (limit {MAX_LITERAL:.0e})")
            _mantissa, _, exponent = literal.lower().partition("e")
            if exponent and abs(int(exponent)) > MAX_DECIMAL_EXPONENT:
                raise ExpressionError(f"number {literal} is out of range")
            exact: int | Fraction = Fraction(literal)
        else:
            exact = value
        _check_literal(exact)
        exact = intmath.to_int(exact)
        return lambda lookup: exact

    def _Name(self, node: ast.Name) -> Callable[[Lookup], Any]:
        name = node.id
        if name.startswith("_") and not name.startswith(PARAM_PREFIX):
            raise ExpressionError(f"name {name!r} is not allowed (names may not start with '_')")
        if name in FUNCTIONS or name in ("fixed", WIDTH_FUNCTION):
            raise ExpressionError(f"{name!r} is a function; call it as {name}(...)")
        self.names.add(name)
        return lambda lookup: lookup(name)

    def _UnaryOp(self, node: ast.UnaryOp) -> Callable[[Lookup], Any]:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda lookup: -_number(operand(lookup))
        if isinstance(node.op, ast.UAdd):
            return lambda lookup: _number(operand(lookup))
        if isinstance(node.op, ast.Not):
            return lambda lookup: _not(operand(lookup))
        raise ExpressionError(f"operator {_describe(node.op)} is not allowed")

    def _BinOp(self, node: ast.BinOp) -> Callable[[Lookup], Any]:
        left = self.compile(node.left)
        if isinstance(node.op, ast.Pow):
            exponent = node.right
            if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub):
                exponent = exponent.operand
                sign = -1
            else:
                sign = 1
            if not (
                isinstance(exponent, ast.Constant)
                and isinstance(exponent.value, int)
                and not isinstance(exponent.value, bool)
                and exponent.value <= MAX_EXPONENT
            ):
                raise ExpressionError(f"powers must have a constant integer exponent of at most {MAX_EXPONENT}")
            power = sign * exponent.value
            return lambda lookup: _power(_number(left(lookup)), power)
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ExpressionError(f"operator {_describe(node.op)} is not allowed")
        right = self.compile(node.right)
        return lambda lookup: op(_number(left(lookup)), _number(right(lookup)))

    def _Compare(self, node: ast.Compare) -> Callable[[Lookup], Any]:
        operands = [self.compile(node.left)] + [self.compile(c) for c in node.comparators]
        ops = []
        for op in node.ops:
            symbol = _COMPARE.get(type(op))
            if symbol is None:
                raise ExpressionError(f"comparison {_describe(op)} is not allowed")
            ops.append(symbol)

        def compare(lookup: Lookup) -> Any:
            values = [_number(f(lookup)) for f in operands]
            result: Any = True
            for symbol, a, b in zip(ops, values, values[1:], strict=False):
                result = _and(result, _relation(symbol, a, b))
            return result

        return compare

    def _BoolOp(self, node: ast.BoolOp) -> Callable[[Lookup], Any]:
        parts = [self.compile(v) for v in node.values]
        combine = _and if isinstance(node.op, ast.And) else _or

        def boolean(lookup: Lookup) -> Any:
            result = parts[0](lookup)
            for part in parts[1:]:
                result = combine(result, part(lookup))
            return result

        return boolean

    def _Call(self, node: ast.Call) -> Callable[[Lookup], Any]:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError("only calls of the functions floor, ceil, min, max, make_divisible")
        name = node.func.id
        if name == "fixed":
            raise ExpressionError("fixed() must wrap the whole value")
        if name == WIDTH_FUNCTION:
            if len(node.args) != 1 or node.keywords:
                raise ExpressionError("width() takes exactly one argument")
            argument = self.compile(node.args[0])
            self.names.add(WIDTH_LOOKUP)
            return lambda lookup: lookup(WIDTH_LOOKUP)(_number(argument(lookup)))
        if name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"unknown function {name!r} (allowed: {allowed}, width, fixed)")
        if node.keywords:
            raise ExpressionError(f"{name}() takes positional arguments only")
        impl, least, most = FUNCTIONS[name]
        if not least <= len(node.args) <= most:
            raise ExpressionError(f"{name}() takes {least} to {most} arguments, got {len(node.args)}")
        args = [self.compile(a) for a in node.args]
        return lambda lookup: impl(*(_number(a(lookup)) for a in args))


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access",
        "Subscript": "indexing",
        "Lambda": "lambda",
        "Starred": "unpacking",
        "JoinedStr": "an f-string",
        "IfExp": "a conditional expression",
    }
    kind = type(node).__name__
    return names.get(kind, kind)


def _relation(symbol: str, a: Any, b: Any) -> Any:
    if intmath.is_number(a) and intmath.is_number(b):
        return {
            "==": a == b,
            "!=": a != b,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }[symbol]
    import sympy

    rel = {
        "==": sympy.Eq,
        "!=": sympy.Ne,
        "<": sympy.Lt,
        "<=": sympy.Le,
        ">": sympy.Gt,
        ">=": sympy.Ge,
    }[symbol](a, b)
    return rel


def _and(a: Any, b: Any) -> Any:
    _condition(a)
    _condition(b)
    if isinstance(a, bool) and isinstance(b, bool):
        return a and b
    import sympy

    return sympy.And(a, b)


def _or(a: Any, b: Any) -> Any:
    _condition(a)
    _condition(b)
    if isinstance(a, bool) and isinstance(b, bool):
        return a or b
    import sympy

    return sympy.Or(a, b)


def _not(a: Any) -> Any:
    _condition(a)
    if isinstance(a, bool):
        return not a
    import sympy

    return sympy.Not(a)


def mapping_lookup(values: Mapping[str, Any]) -> Lookup:
    """A lookup over a plain mapping that reports unknown names as ExpressionError."""

    def lookup(name: str) -> Any:
        try:
            return values[name]
        except KeyError:
            raise ExpressionError(f"unknown name {name!r}") from None

    return lookup
