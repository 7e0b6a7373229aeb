"""Integer maths that works on exact numbers and on sympy expressions alike.

Every shape and cost formula in costmodel is written once, against these helpers. Given ``int`` or
``Fraction`` arguments they return exact Python numbers (the fast path, no sympy involved); given a
sympy expression they return the closed form. That one code path yields both the number and the formula
is what makes "the formula equals the count" true by construction rather than by coincidence.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from costmodel import limits
from costmodel.errors import NotANumber

Number = int | Fraction
Value = Any  # Number or a sympy expression

__all__ = [
    "Number",
    "Value",
    "all_of",
    "ceil_div",
    "ceil_value",
    "conv_out",
    "equal",
    "exact_number",
    "expand_make_divisible",
    "floor_div",
    "floor_value",
    "is_number",
    "less",
    "make_divisible",
    "same_out",
    "same_pads",
    "scale_width",
    "smax",
    "smin",
    "to_int",
    "where",
]


_DECIMAL = re.compile(r"[+-]?(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?", re.ASCII)
_RATIO = re.compile(r"([+-]?\d+)/(\d+)", re.ASCII)


def _shown(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}…{text[-6:]} ({len(text):,} characters long)"


def exact_number(value: Any, what: str = "the number") -> Fraction:
    """A YAML or CLI number as an exact fraction: 0.1 means one tenth, not the nearest double.

    Only ASCII decimals (``12``, ``0.75``, ``1e-3``, ``1_000``) and ratios (``3/4``) are numbers, and
    their digits, exponent and size are checked against :mod:`costmodel.limits` before any conversion:
    ``Fraction("1e99999999")`` would not finish. A malformed number is a ValueError; one past a limit
    a :class:`~costmodel.limits.LimitError` naming ``what``.
    """
    if isinstance(value, bool):
        raise NotANumber(f"{what} must be a number, got {value}")
    if isinstance(value, int):
        return _bounded(Fraction(value), what, value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotANumber(f"{what} must be a finite number, got {value}")
        return _bounded(Fraction(repr(value)), what, value)
    text = str(value).strip().replace("_", "")
    bound = limits.current()
    if len(text) > bound.digits + 16:  # room for a sign, a point and an exponent; more is never needed
        raise limits.exceeded("digits", f"{what} {_shown(text)}")
    ratio = _RATIO.fullmatch(text)
    if ratio:
        if int(ratio.group(2)) == 0:
            raise NotANumber(f"{what} {_shown(text)} divides by zero")
        return _bounded(Fraction(int(ratio.group(1)), int(ratio.group(2))), what, text)
    match = _DECIMAL.fullmatch(text)
    if match is None:
        raise NotANumber(f"{'' if what == 'the number' else what + ': '}not a number: {_shown(text)!r}")
    whole, decimals, only_decimals, exponent = match.groups()
    digits = ((whole or "") + (decimals or only_decimals or "")).lstrip("0")
    if len(digits) > bound.digits:
        raise limits.exceeded("digits", f"{what} {_shown(text)}", f"{len(digits)} significant digits")
    if exponent is not None and abs(int(exponent)) > bound.exponent:
        raise limits.exceeded("exponent", f"{what} {_shown(text)}", f"exponent {int(exponent)}")
    return _bounded(Fraction(text), what, text)


def _bounded(number: Fraction, what: str, shown: Any) -> Fraction:
    if abs(number) > limits.current().magnitude:
        raise limits.exceeded("magnitude", f"{what} {_shown(str(shown))}")
    return number


def is_number(x: object) -> bool:
    """True for exact Python numbers (bool excluded), i.e. the fast path."""
    return isinstance(x, (int, Fraction)) and not isinstance(x, bool)


def _sympy() -> Any:
    import sympy  # imported lazily: the numeric path never needs it

    return sympy


def rational(x: Any) -> Fraction:
    """A sympy Rational as an exact Fraction."""
    return Fraction(int(x.p), int(x.q))


def to_int(x: Value) -> Value:
    """An integral Fraction becomes an int; anything else is returned unchanged."""
    if isinstance(x, Fraction) and x.denominator == 1:
        return int(x)
    return x


def floor_value(x: Value) -> Value:
    if is_number(x):
        return math.floor(x)
    return _rounded(x, up=False)


def ceil_value(x: Value) -> Value:
    if is_number(x):
        return math.ceil(x)
    return _rounded(x, up=True)


def _rounded(x: Value, up: bool) -> Value:
    """floor(x) (ceiling if ``up``) with the integer terms of the sum taken out: what sympy's own
    evaluation gives the sizes of a network, without its attempt to prove 0 <= x < 1 through the
    assumptions system (a millisecond a call, a third of building EfficientNet's closed forms)."""
    sp = _sympy()
    x = sp.sympify(x)
    if x.is_Number:
        return sp.ceiling(x) if up else sp.floor(x)
    whole: list[Any] = []
    rest: list[Any] = []
    constant = sp.Integer(0)
    for term in sp.Add.make_args(x):
        if term.is_Number:
            constant += term
        elif term.is_integer:
            whole.append(term)
        else:
            rest.append(term)
    if not rest:
        return sp.Add(*whole, sp.ceiling(constant) if up else sp.floor(constant))
    shift = constant if constant.is_Integer else sp.Integer(0)  # a fraction stays inside, as sympy has it
    inner = sp.Add(*rest, constant - shift)
    return sp.Add(*whole, shift, (sp.ceiling if up else sp.floor)(inner, evaluate=False))


def _is_integer(x: Value) -> bool:
    """Integer for every value of its symbols (per sympy's assumptions): floor(x) is x itself."""
    if is_number(x):
        return Fraction(x).denominator == 1
    return getattr(x, "is_integer", None) is True


def floor_div(a: Value, b: Value) -> Value:
    """floor(a / b); floor(floor(x) / n) collapses to floor(x / n) for readable closed forms."""
    if type(a) is int and type(b) is int:  # the common case, without building Fractions
        return a // b
    if is_number(a) and is_number(b):
        return math.floor(Fraction(a) / Fraction(b))
    if is_number(b) and b == 1 and _is_integer(a):
        return a
    if a is b or (not is_number(a) and not is_number(b) and a == b):
        return 1
    sp = _sympy()
    if isinstance(a, sp.floor) and is_number(b) and b > 0 and Fraction(b).denominator == 1:
        return _rounded(a.args[0] / b, up=False)
    return _rounded(sp.sympify(a) / b, up=False)


def ceil_div(a: Value, b: Value) -> Value:
    """ceil(a / b); ceil(ceil(x) / n) collapses to ceil(x / n) (true for real x, integer n > 0)."""
    if type(a) is int and type(b) is int:
        return -(-a // b)
    if is_number(a) and is_number(b):
        return math.ceil(Fraction(a) / Fraction(b))
    if is_number(b) and b == 1 and _is_integer(a):
        return a
    sp = _sympy()
    if isinstance(a, sp.ceiling) and is_number(b) and b > 0 and Fraction(b).denominator == 1:
        return _rounded(a.args[0] / b, up=True)
    return _rounded(sp.sympify(a) / b, up=True)


def smax(*args: Value) -> Value:
    return _extreme(max, "Max", args)


def smin(*args: Value) -> Value:
    return _extreme(min, "Min", args)


def _extreme(numeric: Any, name: str, args: tuple[Value, ...]) -> Value:
    """max or min; on symbols a ``Max``/``Min`` that keeps its arguments as written, numbers folded.

    sympy's own evaluation tries to order every pair of arguments through the assumptions system:
    milliseconds per call on a width that is a ``Piecewise``, for a simplification the widths of a
    network almost never allow."""
    args = tuple(to_int(rational(a)) if getattr(a, "is_Rational", False) else a for a in args)
    numbers = [a for a in args if is_number(a)]
    if len(numbers) == len(args):
        return numeric(args)
    rest = list(dict.fromkeys(a for a in args if not is_number(a)))
    if numbers:
        rest.insert(0, numeric(numbers))
    if len(rest) == 1:
        return rest[0]
    return getattr(_sympy(), name)(*rest, evaluate=False)


def where(cond: Any, if_true: Value, if_false: Value) -> Value:
    """A value chosen by a condition: a plain choice for numbers, a ``Piecewise`` for symbols."""
    if isinstance(cond, bool):
        return if_true if cond else if_false
    sp = _sympy()
    if cond is sp.true or cond is sp.false:
        return if_true if cond is sp.true else if_false
    # A choice inside a choice on the same condition (a layer absent where the one before is too) is
    # decided already: keep the formula as flat as the network.
    if_true = _branch(if_true, cond, taken=True)
    if_false = _branch(if_false, cond, taken=False)
    if if_true == if_false:
        return if_true
    # b if a != b else a is b (a width that passes through where a layer would not change it)
    if isinstance(cond, (sp.Ne, sp.Eq)) and {if_true, if_false} == set(cond.args):
        return if_true if isinstance(cond, sp.Ne) else if_false
    return sp.Piecewise((if_true, cond), (if_false, True), evaluate=False)  # eval only re-derives the two branches


def _branch(value: Value, cond: Any, taken: bool) -> Value:
    """``value`` where ``cond`` is known to be ``taken``, if it is a two-way choice on ``cond``."""
    sp = _sympy()
    if isinstance(value, sp.Piecewise) and len(value.args) == 2 and value.args[0].cond == cond:
        return value.args[0].expr if taken else value.args[1].expr
    return value


def all_of(conditions: Any) -> Any:
    """All conditions hold: True or False once decided, else a sympy ``And`` of the undecided ones."""
    undecided = []
    for cond in conditions:
        if cond is False or (not isinstance(cond, bool) and cond is _sympy().false):
            return False
        if cond is True or (not isinstance(cond, bool) and cond is _sympy().true):
            continue
        undecided.append(cond)
    if not undecided:
        return True
    sp = _sympy()
    combined = sp.And(*undecided)
    if combined is sp.true or combined is sp.false:
        return combined is sp.true
    return combined


def equal(a: Value, b: Value) -> Any:
    """a == b as a bool for numbers, as a sympy relation (possibly already decided) for symbols."""
    if is_number(a) and is_number(b):
        return a == b
    if a == b:
        return True
    sp = _sympy()
    if sp.sympify(a).is_Number and sp.sympify(b).is_Number:
        return False
    # Widths that are different expressions are compared only at a point: asking sympy to decide
    # Eq(make_divisible(16*alpha, 8), make_divisible(32*alpha, 8)) symbolically costs seconds.
    return sp.Eq(a, b, evaluate=False)


def less(a: Value, b: Value) -> Any:
    if is_number(a) and is_number(b):
        return a < b
    sp = _sympy()
    rel = sp.Lt(a, b)
    if rel is sp.true or rel is sp.false:
        return bool(rel)
    return rel


def conv_out(size: Value, kernel: int, stride: int, pad_total: Value, ceil_mode: bool = False) -> Value:
    """Output side of a convolution or pooling window, PyTorch's rule (``ceil_mode`` included).

    With ``ceil_mode`` PyTorch also drops a last window that would start in the right padding; that
    can only happen when ``pad + stride > kernel``, so the correction is added only then.
    """
    span = size + pad_total - kernel
    if not ceil_mode:
        return floor_div(span, stride) + 1
    out = ceil_div(span, stride) + 1
    left_pad = floor_div(pad_total, 2)
    if is_number(left_pad) and left_pad + stride <= kernel:
        return out
    starts_in_padding = less(size + left_pad - 1, (out - 1) * stride)
    return where(starts_in_padding, out - 1, out)


def same_out(size: Value, stride: int) -> Value:
    """TensorFlow 'SAME' padding: the output side is ceil(size / stride), whatever the kernel."""
    return ceil_div(size, stride)


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding of one axis at a concrete size: (before, after), the odd pixel after.

    The total is what the ``same_out`` windows need beyond the input: max((out - 1)·stride + kernel -
    size, 0).
    """
    total = max((int(same_out(size, stride)) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _floor_min8(scaled: Value) -> Value:
    return smax(floor_value(scaled), 8)


def _make_divisible8(scaled: Value) -> Value:
    return make_divisible(scaled, 8)


def _unscaled(scaled: Value) -> Value:
    raise AssertionError("the 'none' rule scales nothing")  # pragma: no cover - scale_width skips it


# How each reference implementation rounds a width scaled by the width multiplier (a spec names one).
WIDTH_RULES: dict[str, Callable[[Value], Value]] = {
    "floor_min8": _floor_min8,  # TF-slim MobileNet v1: max(int(c * alpha), 8)
    "make_divisible8": _make_divisible8,  # MobileNet v2/v3: _make_divisible(c * alpha, 8)
    "floor": floor_value,  # Keras MobileNet v1: int(c * alpha)
    "none": _unscaled,  # widths do not scale
}


def scale_width(rule: str, channels: Value, multiplier: Value) -> Value:
    """A layer width scaled by the width multiplier and rounded by the named rule."""
    if rule == "none":
        return channels
    return WIDTH_RULES[rule](channels * multiplier)


def make_divisible(value: Value, divisor: int = 8, min_value: Value | None = None) -> Value:
    """The MobileNet v2/v3 channel rule (TF-slim's ``_make_divisible``, as torchvision has it).

    Rounds to the nearest multiple of ``divisor`` (halves up), at least ``min_value`` (default:
    ``divisor``), and adds one more ``divisor`` when rounding lost more than 10 % of ``value``.
    Symbolically it stays one named function, ``make_divisible(v, d)``: closed forms read like the
    reference code, stay small, and :func:`expand_make_divisible` turns it into plain sympy.
    """
    if not is_number(value) and is_number(divisor):
        if min_value is None:
            return make_divisible_function()(value, divisor)
        if is_number(min_value):
            return make_divisible_function()(value, divisor, min_value)
    return _make_divisible_rule(value, divisor, min_value)


def _make_divisible_rule(value: Value, divisor: Value, min_value: Value | None = None) -> Value:
    floor_to = min_value if min_value is not None else divisor
    rounded = smax(floor_to, floor_div(value + Fraction(divisor, 2), divisor) * divisor)
    lost_too_much = less(rounded, Fraction(9, 10) * value)
    return where(lost_too_much, rounded + divisor, rounded)


@functools.cache
def make_divisible_function() -> Any:
    """``make_divisible`` as a sympy function: unevaluated while its value is symbolic, an exact Integer
    once it is a number. It takes (value, divisor) or (value, divisor, min_value)."""
    sp = _sympy()

    class make_divisible(sp.Function):  # type: ignore[misc, name-defined]
        nargs = (2, 3)

        @classmethod
        def eval(cls, value: Any, divisor: Any, min_value: Any = None) -> Any:
            if value.is_Rational and divisor.is_Integer and (min_value is None or min_value.is_Rational):
                exact = rational(value)
                low = None if min_value is None else rational(min_value)
                return sp.Integer(_make_divisible_rule(exact, int(divisor), low))
            return None

        def _eval_is_integer(self) -> bool:
            return True

        def _eval_is_positive(self) -> bool:
            return True

        def _eval_rewrite_as_Piecewise(self, value: Any, divisor: Any, *rest: Any, **kwargs: Any) -> Any:
            min_value = rest[0] if rest and not isinstance(rest[0], dict) else None
            return _make_divisible_rule(value, divisor, min_value)

    return make_divisible


def rounding_functions() -> tuple[type, ...]:
    """The sympy functions that make a closed form exact rather than smooth."""
    sp = _sympy()
    return (sp.floor, sp.ceiling, sp.Max, sp.Min, sp.Piecewise, make_divisible_function())


def expand_make_divisible(expr: Any) -> Any:
    """Replace every ``make_divisible(v, d)`` by its definition in plain sympy (max, floor, Piecewise)."""
    function = make_divisible_function()
    if not hasattr(expr, "atoms") or not expr.atoms(function):
        return expr
    return expr.replace(function, lambda value, divisor, *low: _make_divisible_rule(value, divisor, *low))
