"""costmodel.intmath: exact numbers on the fast path, sympy closed forms on symbols, and the two agree.

Every integer result is checked against a small reference written here from its source's definition
(PyTorch's pooling output-size formula, torchvision's ``_make_divisible``), never against the module's
own code; every symbolic result is checked by substituting numbers and comparing with the numeric path.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from functools import cache

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import intmath

H = sympy.Symbol("h", integer=True, positive=True)
X = sympy.Symbol("x", real=True)
ALPHA = sympy.Symbol("alpha", positive=True)

FAST = settings(max_examples=100, deadline=None)
SYMBOLIC = settings(max_examples=50, deadline=None)  # each example builds and substitutes a sympy form


# -- references, written from their sources' definitions ------------------------------------------


def ref_pool_out(size: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """PyTorch's pooling_output_shape (aten/src/ATen/native/Pool.h), dilation 1."""
    out = (size + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def ref_make_divisible(v: Fraction, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision.models._utils._make_divisible, with exact arithmetic instead of floats."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + Fraction(divisor, 2)) // divisor * divisor)
    if new_v < Fraction(9, 10) * v:
        new_v += divisor
    return new_v


def ref_floor_div(a: Fraction, b: Fraction) -> int:
    """floor(a / b) with integer // only: a/b = (an·bd) / (ad·bn)."""
    num, den = a.numerator * b.denominator, a.denominator * b.numerator
    if den < 0:
        num, den = -num, -den
    return num // den


def ref_ceil_div(a: Fraction, b: Fraction) -> int:
    return -ref_floor_div(-a, b)


def numeric(value: sympy.Basic) -> Fraction:
    """A sympy number as an exact Fraction (fails loudly if substitution left anything symbolic)."""
    assert value.is_Rational, f"not a rational number after substitution: {value!r}"
    return Fraction(int(value.p), int(value.q))


def rational(value: Fraction | int) -> sympy.Rational:
    value = Fraction(value)
    return sympy.Rational(value.numerator, value.denominator)


fractions = st.fractions(min_value=-50, max_value=50, max_denominator=12)
positive_fractions = st.fractions(min_value=Fraction(1, 12), max_value=50, max_denominator=12).filter(lambda f: f > 0)
nonzero_fractions = fractions.filter(lambda f: f != 0)


# -- is_number / to_int ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, True),
        (-3, True),
        (Fraction(1, 3), True),
        (True, False),
        (False, False),
        (1.0, False),
        ("1", False),
        (None, False),
        (sympy.Integer(3), False),
        (H, False),
    ],
)
def test_is_number(value: object, expected: bool) -> None:
    assert intmath.is_number(value) is expected


@pytest.mark.parametrize(
    ("value", "expected", "expected_type"),
    [
        (Fraction(6, 3), 2, int),
        (Fraction(-4, 1), -4, int),
        (Fraction(1, 2), Fraction(1, 2), Fraction),
        (7, 7, int),
    ],
)
def test_to_int(value: object, expected: object, expected_type: type) -> None:
    result = intmath.to_int(value)
    assert result == expected
    assert type(result) is expected_type


def test_to_int_leaves_symbols_alone() -> None:
    assert intmath.to_int(H) is H


# -- floor_div / ceil_div on numbers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "floor", "ceil"),
    [
        (7, 2, 3, 4),
        (-7, 2, -4, -3),
        (7, -2, -4, -3),
        (8, 2, 4, 4),
        (0, 5, 0, 0),
        (1, 8, 0, 1),
        (Fraction(7, 2), Fraction(1, 2), 7, 7),
        (Fraction(15, 4), 2, 1, 2),
        (224, 32, 7, 7),
        (225, 32, 7, 8),
    ],
)
def test_floor_and_ceil_div_table(a: int | Fraction, b: int | Fraction, floor: int, ceil: int) -> None:
    assert intmath.floor_div(a, b) == floor
    assert intmath.ceil_div(a, b) == ceil
    assert type(intmath.floor_div(a, b)) is int
    assert type(intmath.ceil_div(a, b)) is int


@FAST
@given(a=fractions, b=nonzero_fractions)
def test_floor_and_ceil_div_match_integer_reference(a: Fraction, b: Fraction) -> None:
    assert intmath.floor_div(a, b) == ref_floor_div(a, b)
    assert intmath.ceil_div(a, b) == ref_ceil_div(a, b)


@FAST
@given(a=st.integers(-(10**30), 10**30), b=st.integers(1, 10**6))
def test_floor_div_of_big_ints_is_exact(a: int, b: int) -> None:
    # no float anywhere: 10**30 / b in floating point would lose digits
    assert intmath.floor_div(a, b) == a // b
    assert intmath.ceil_div(a, b) == -(-a // b)


def test_floor_and_ceil_value() -> None:
    assert intmath.floor_value(Fraction(-1, 2)) == -1
    assert intmath.ceil_value(Fraction(-1, 2)) == 0
    assert intmath.floor_value(Fraction(7, 2)) == 3
    assert intmath.ceil_value(Fraction(7, 2)) == 4
    assert intmath.floor_value(5) == 5
    assert intmath.floor_value(X).subs(X, sympy.Rational(-1, 2)) == -1
    assert intmath.ceil_value(X).subs(X, sympy.Rational(-1, 2)) == 0


@FAST
@given(
    h=st.integers(1, 400),
    alpha=positive_fractions,
    scale=st.integers(-3, 3),
    shift=fractions,
    d=st.integers(1, 9),
)
def test_symbolic_floor_and_ceil_div_equal_the_numbers_they_stand_for(
    h: int, alpha: Fraction, scale: int, shift: Fraction, d: int
) -> None:
    """The rounding a network's sizes go through, built from symbols with integer terms taken out
    and evaluated at a point, is the rounding of the numbers (integer and fractional shifts alike)."""
    at = {H: h, ALPHA: sympy.Rational(alpha.numerator, alpha.denominator)}
    numerator = scale * H + 7 * ALPHA + sympy.Rational(shift.numerator, shift.denominator)
    value = Fraction(scale * h) + 7 * alpha + shift
    assert intmath.floor_div(numerator, d).xreplace(at) == ref_floor_div(value, d)
    assert intmath.ceil_div(numerator, d).xreplace(at) == ref_ceil_div(value, d)
    assert intmath.floor_value(numerator).xreplace(at) == ref_floor_div(value, 1)
    assert intmath.ceil_value(numerator).xreplace(at) == ref_ceil_div(value, 1)


def test_integer_terms_leave_the_rounding_as_sympy_takes_them_out() -> None:
    assert intmath.floor_div(2 * H + 6, 2) == H + 3
    assert intmath.floor_value(H + X + 3) == H + 3 + sympy.floor(X)
    assert intmath.ceil_value(X - sympy.Rational(7, 2)) == sympy.ceiling(X - sympy.Rational(7, 2))
    assert intmath.floor_div(112 * ALPHA - 7, 1) == sympy.floor(112 * ALPHA) - 7


# -- conv_out / same_out --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "k", "s", "p", "ceil_mode", "expected"),
    [
        pytest.param(224, 7, 2, 0, False, 109, id="squeezenet1_0 conv1 7x7/2"),
        pytest.param(109, 3, 2, 0, True, 54, id="squeezenet maxpool 3/2 ceil"),
        pytest.param(54, 3, 2, 0, True, 27, id="squeezenet maxpool2"),
        pytest.param(27, 3, 2, 0, True, 13, id="squeezenet maxpool3"),
        pytest.param(109, 3, 2, 0, False, 54, id="109 is odd: ceil makes no difference"),
        pytest.param(110, 3, 2, 0, True, 55, id="even size: ceil keeps a partial window"),
        pytest.param(110, 3, 2, 0, False, 54, id="even size: floor drops it"),
        pytest.param(224, 3, 2, 1, False, 112, id="3x3/2 pad 1"),
        pytest.param(224, 11, 4, 2, False, 55, id="alexnet conv1"),
        pytest.param(55, 3, 2, 0, False, 27, id="alexnet pool1"),
        pytest.param(5, 2, 2, 1, True, 3, id="last ceil window would start in the padding: dropped"),
        pytest.param(5, 2, 2, 1, False, 3, id="same case without ceil"),
        pytest.param(6, 3, 3, 1, True, 3, id="ceil with padding, window kept"),
        pytest.param(3, 3, 1, 0, False, 1, id="window equals input"),
        pytest.param(2, 3, 1, 0, False, 0, id="window larger than input: no output"),
    ],
)
def test_conv_out_table(size: int, k: int, s: int, p: int, ceil_mode: bool, expected: int) -> None:
    assert ref_pool_out(size, k, s, p, ceil_mode) == expected  # the table itself is right
    assert intmath.conv_out(size, k, s, 2 * p, ceil_mode) == expected


def test_conv_out_matches_pytorch_formula_on_a_grid() -> None:
    checked = 0
    for size, k, s, ceil_mode in itertools.product(range(1, 41), range(1, 8), range(1, 5), (False, True)):
        for p in range(k // 2 + 1):  # PyTorch requires pad <= kernel / 2
            if size + 2 * p < k:
                continue
            expected = ref_pool_out(size, k, s, p, ceil_mode)
            got = intmath.conv_out(size, k, s, 2 * p, ceil_mode)
            assert got == expected, (size, k, s, p, ceil_mode)
            assert type(got) is int
            checked += 1
    assert checked > 2000


@pytest.mark.parametrize(
    ("size", "stride", "expected"),
    [(7, 2, 4), (224, 2, 112), (225, 2, 113), (7, 1, 7), (1, 2, 1), (14, 3, 5), (112, 32, 4)],
)
def test_same_out(size: int, stride: int, expected: int) -> None:
    assert intmath.same_out(size, stride) == expected


# -- make_divisible -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "divisor", "min_value", "expected"),
    [
        pytest.param(32, 8, None, 32, id="multiple stays"),
        pytest.param(Fraction(24 * 3, 4), 8, None, 24, id="18 -> 16 loses >10%, bumped to 24"),
        pytest.param(18, 8, None, 24, id="18 int"),
        pytest.param(Fraction(32 * 3, 4), 8, None, 24, id="0.75*32"),
        pytest.param(12, 8, None, 16, id="12 halves up to 16"),
        pytest.param(Fraction(1199, 100), 8, None, 16, id="just below 12: 8 loses >10%, bumped"),
        pytest.param(11, 8, None, 16, id="11 -> 8 is 27% lost, bumped"),
        pytest.param(Fraction(359, 10), 8, None, 40, id="35.9 -> 32 loses 10.9%, bumped"),
        pytest.param(35, 8, None, 32, id="35 -> 32 loses 8.6%, kept"),
        pytest.param(Fraction(3599, 100), 8, None, 40, id="35.99 rounds half up to 40"),
        pytest.param(36, 8, None, 40, id="36 is a half: up"),
        pytest.param(Fraction(7, 1), 8, None, 8, id="7 -> 8"),
        pytest.param(Fraction(79, 10), 8, None, 8, id="just below 8"),
        pytest.param(Fraction(81, 10), 8, None, 8, id="just above 8"),
        pytest.param(Fraction(159, 10), 8, None, 16, id="just below 16"),
        pytest.param(Fraction(161, 10), 8, None, 16, id="just above 16"),
        pytest.param(1, 8, None, 8, id="tiny -> min 8"),
        pytest.param(Fraction(1, 10), 8, None, 8, id="very tiny -> 8"),
        pytest.param(3, 8, 16, 16, id="explicit min_value"),
        pytest.param(1280, 8, None, 1280, id="last channel"),
        pytest.param(Fraction(1280 * 5, 4), 8, None, 1600, id="1.25 * 1280"),
        pytest.param(Fraction(96 * 35, 100), 8, None, 32, id="0.35*96 = 33.6 -> 32"),
        pytest.param(Fraction(16 * 35, 100), 8, None, 8, id="0.35*16 = 5.6 -> 8"),
        pytest.param(10, 4, None, 12, id="divisor 4, half up"),
        pytest.param(9, 4, None, 12, id="divisor 4: 9 -> 8 loses 11%, bumped"),
        pytest.param(Fraction(17, 2), 4, None, 8, id="divisor 4: 8.5 -> 8 kept"),
        pytest.param(Fraction(7, 2), 1, None, 4, id="divisor 1 rounds half up"),
    ],
)
def test_make_divisible_table(value: Fraction | int, divisor: int, min_value: int | None, expected: int) -> None:
    assert ref_make_divisible(Fraction(value), divisor, min_value) == expected  # the table itself is right
    assert intmath.make_divisible(value, divisor, min_value) == expected


@FAST
@given(
    value=st.fractions(min_value=Fraction(1, 100), max_value=4000, max_denominator=200),
    divisor=st.sampled_from([1, 2, 3, 4, 8, 16, 32]),
    min_value=st.one_of(st.none(), st.integers(1, 64)),
)
def test_make_divisible_matches_torchvision(value: Fraction, divisor: int, min_value: int | None) -> None:
    result = intmath.make_divisible(value, divisor, min_value)
    assert result == ref_make_divisible(value, divisor, min_value)
    if min_value is None:
        assert result % divisor == 0
        assert result >= divisor
    assert result >= Fraction(9, 10) * value  # never loses more than 10 %


def test_make_divisible_default_divisor_is_8() -> None:
    assert intmath.make_divisible(Fraction(20)) == 24
    assert intmath.make_divisible(19) == 24
    assert intmath.make_divisible(Fraction(39, 2)) == 16 + 8  # 19.5 -> 16 loses 18 %


# -- smin / smax / where / equal / less -----------------------------------------------------------


def test_smin_smax_numbers() -> None:
    assert intmath.smax(3, Fraction(7, 2), 1) == Fraction(7, 2)
    assert intmath.smin(3, Fraction(7, 2), 1) == 1
    assert type(intmath.smax(3, 8)) is int


def test_smin_smax_of_sympy_numbers_are_numbers() -> None:
    """x**0 is sympy's 1: min(0, x**0) is 0, not Min(0, 1) left unevaluated (found by hypothesis)."""
    assert intmath.smin(0, sympy.Integer(1)) == 0 and type(intmath.smin(0, sympy.Integer(1))) is int
    assert intmath.smax(sympy.Rational(1, 2), Fraction(1, 3)) == Fraction(1, 2)
    assert intmath.smax(H, sympy.Integer(3), 5) == sympy.Max(5, H, evaluate=False)


def test_smin_smax_symbols() -> None:
    expr = intmath.smax(8, 2 * H)
    assert isinstance(expr, sympy.Max)
    assert expr.subs(H, 3) == 8
    assert expr.subs(H, 5) == 10
    assert intmath.smin(8, 2 * H).subs(H, 3) == 6


def test_where_numbers_and_symbols() -> None:
    assert intmath.where(True, 1, 2) == 1
    assert intmath.where(False, 1, 2) == 2
    assert intmath.where(sympy.true, 1, 2) == 1
    assert intmath.where(sympy.false, 1, 2) == 2
    expr = intmath.where(sympy.Lt(H, 4), H, 0)
    assert isinstance(expr, sympy.Piecewise)
    assert expr.subs(H, 3) == 3
    assert expr.subs(H, 4) == 0


def test_equal_and_less() -> None:
    assert intmath.equal(3, Fraction(6, 2)) is True
    assert intmath.equal(3, 4) is False
    assert intmath.less(3, 4) is True
    assert intmath.less(4, 4) is False
    # relations sympy can decide come back as Python bools
    assert intmath.equal(H + 1, 1 + H) is True
    assert intmath.less(H, H + 1) is True
    assert intmath.less(H + 1, H) is False
    assert intmath.less(0, H) is True  # h is positive
    # undecided ones stay relations, and decide once substituted
    rel = intmath.less(H, 5)
    assert isinstance(rel, sympy.core.relational.Relational)
    assert bool(rel.subs(H, 4)) is True
    assert bool(rel.subs(H, 5)) is False
    assert bool(intmath.equal(H, 5).subs(H, 5)) is True


def test_all_of() -> None:
    assert intmath.all_of([]) is True
    assert intmath.all_of([True, True]) is True
    assert intmath.all_of([True, False]) is False
    assert intmath.all_of([sympy.true, True]) is True
    assert intmath.all_of([sympy.Lt(H, 4), sympy.false]) is False
    assert intmath.all_of([sympy.Lt(H, 4), sympy.Ge(H, 4)]) is False  # sympy decides the contradiction
    cond = intmath.all_of([sympy.Lt(H, 4), True, sympy.Gt(H, 1)])
    assert bool(cond.subs(H, 2)) is True
    assert bool(cond.subs(H, 4)) is False


# -- one formula, two number systems --------------------------------------------------------------


@cache
def conv_out_expr(k: int, s: int, p: int, ceil_mode: bool) -> sympy.Expr:
    return intmath.conv_out(H, k, s, 2 * p, ceil_mode)


window = st.tuples(st.integers(1, 7), st.integers(1, 4), st.booleans()).flatmap(
    lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.integers(0, t[0] // 2), st.just(t[2]))
)


@SYMBOLIC
@given(window=window, extra=st.integers(0, 60))
def test_conv_out_symbolic_equals_numeric(window: tuple[int, int, int, bool], extra: int) -> None:
    k, s, p, ceil_mode = window
    size = max(k - 2 * p, 1) + extra
    expr = conv_out_expr(k, s, p, ceil_mode)
    assert not intmath.is_number(expr)
    value = expr.subs(H, size)
    assert value == intmath.conv_out(size, k, s, 2 * p, ceil_mode) == ref_pool_out(size, k, s, p, ceil_mode)


def test_conv_out_ceil_mode_symbolic_has_the_drop_condition_only_when_it_can_happen() -> None:
    # pad + stride <= kernel: no window can start in the right padding, so no Piecewise
    assert not intmath.conv_out(H, 3, 2, 0, True).has(sympy.Piecewise)
    # pad + stride > kernel: the condition is there, and both branches are reachable
    expr = intmath.conv_out(H, 2, 2, 2, True)
    assert expr.has(sympy.Piecewise)
    assert expr.subs(H, 5) == ref_pool_out(5, 2, 2, 1, True) == 3  # dropped
    assert expr.subs(H, 4) == ref_pool_out(4, 2, 2, 1, True) == 3  # kept


@FAST
@given(stride=st.integers(1, 5), size=st.integers(1, 300))
def test_same_out_symbolic_equals_numeric(stride: int, size: int) -> None:
    assert intmath.same_out(H, stride).subs(H, size) == intmath.same_out(size, stride) == -(-size // stride)


@cache
def make_divisible_expr(channels: int, divisor: int, min_value: int | None) -> sympy.Expr:
    return intmath.make_divisible(channels * ALPHA, divisor, min_value)


@SYMBOLIC
@given(
    channels=st.sampled_from([8, 16, 24, 32, 40, 48, 64, 72, 80, 96, 112, 120, 160, 240, 320, 576, 960, 1280]),
    alpha=st.fractions(min_value=Fraction(1, 20), max_value=3, max_denominator=40).filter(lambda f: f > 0),
    divisor=st.sampled_from([1, 4, 8]),
    min_value=st.sampled_from([None, 16]),
)
def test_make_divisible_symbolic_equals_numeric(
    channels: int, alpha: Fraction, divisor: int, min_value: int | None
) -> None:
    expr = make_divisible_expr(channels, divisor, min_value)
    assert not intmath.is_number(expr)
    expected = ref_make_divisible(channels * alpha, divisor, min_value)
    assert intmath.make_divisible(channels * alpha, divisor, min_value) == expected
    assert expr.subs(ALPHA, rational(alpha)) == expected


def test_make_divisible_symbolic_both_sides_of_the_bump() -> None:
    expr = intmath.make_divisible(24 * ALPHA, 8)
    assert str(expr) == "make_divisible(24*alpha, 8)"  # one named function in closed forms
    assert intmath.expand_make_divisible(expr).has(sympy.Piecewise)  # ... whose definition has the bump
    for value in (sympy.Rational(3, 4), sympy.Rational(1, 2), 1):
        assert intmath.expand_make_divisible(expr).subs(ALPHA, value) == expr.subs(ALPHA, value)
    assert expr.subs(ALPHA, sympy.Rational(3, 4)) == 24  # 18 -> 16 -> bumped
    assert expr.subs(ALPHA, sympy.Rational(1, 2)) == 16  # 12 -> 16
    assert expr.subs(ALPHA, 1) == 24


@pytest.mark.parametrize("func", [intmath.floor_div, intmath.ceil_div], ids=["floor_div", "ceil_div"])
@SYMBOLIC
@given(
    a=st.integers(1, 12),
    b=st.integers(1, 12),
    x=fractions,
)
def test_nested_divisions_collapse(func, a: int, b: int, x: Fraction) -> None:
    nested = func(func(X, a), b)
    # one rounding, not two: floor(floor(x/a)/b) == floor(x/(a*b)) for real x and integers a, b > 0
    rounding = sympy.floor if func is intmath.floor_div else sympy.ceiling
    assert nested == func(X, a * b)
    assert len(nested.atoms(rounding)) == 1
    # and it is still the nested value
    assert nested.subs(X, rational(x)) == func(func(x, a), b)


@pytest.mark.parametrize("func", [intmath.floor_div, intmath.ceil_div], ids=["floor_div", "ceil_div"])
@SYMBOLIC
@given(a=positive_fractions, b=st.integers(1, 9), x=fractions)
def test_collapse_with_fractional_inner_divisor(func, a: Fraction, b: int, x: Fraction) -> None:
    # the inner divisor may be any positive number; only the outer one needs to be an integer
    assert func(func(X, a), b).subs(X, rational(x)) == func(func(x, a), b)


@pytest.mark.parametrize(
    ("func", "b", "x", "expected"),
    [
        # floor(floor(1.6) / 1.5) = 0, but floor(1.6 / 1.5) = 1: no collapse for a fractional divisor
        (intmath.floor_div, Fraction(3, 2), Fraction(8, 5), 0),
        # floor(floor(0.5) / -2) = 0, but floor(0.5 / -2) = -1: no collapse for a negative divisor
        (intmath.floor_div, -2, Fraction(1, 2), 0),
        (intmath.ceil_div, Fraction(3, 2), Fraction(-8, 5), 0),
        (intmath.ceil_div, -2, Fraction(-1, 2), 0),
    ],
)
def test_no_collapse_where_it_would_be_wrong(func, b: Fraction | int, x: Fraction, expected: int) -> None:
    inner = sympy.floor(X) if func is intmath.floor_div else sympy.ceiling(X)
    assert func(func(x, 1), b) == expected  # numeric reference
    assert func(inner, b).subs(X, rational(x)) == expected


def test_division_by_one_still_rounds_a_non_integer() -> None:
    """floor(x / 1) is floor(x), not x, unless x is an integer (then the form stays readable)."""
    assert intmath.floor_div(X / 2, 1).subs(X, 3) == 1
    assert intmath.ceil_div(X / 2, 1).subs(X, 3) == 2
    assert intmath.floor_div(H, 1) is H
    assert intmath.ceil_div(2 * H + 1, 1) == 2 * H + 1
    assert intmath.make_divisible(8 * ALPHA, 1).subs(ALPHA, sympy.Rational(1, 10)) == 1  # not 13/10
    assert intmath.make_divisible(Fraction(8, 10), 1) == 1


# a small family of symbolic values: (p*x + q) / r, and plain rounded ones
linear = st.tuples(
    st.integers(-6, 6).filter(bool), st.integers(-10, 10), st.integers(1, 6), st.sampled_from([None, "floor", "ceil"])
)
divisors = st.one_of(st.integers(1, 9), st.integers(-9, -1), positive_fractions)


def build(form: tuple[int, int, int, str | None], x: object) -> object:
    p, q, r, rounding = form
    value = (p * x + q) / sympy.Integer(r) if isinstance(x, sympy.Basic) else Fraction(p * x + q, r)
    if rounding == "floor":
        return intmath.floor_value(value)
    if rounding == "ceil":
        return intmath.ceil_value(value)
    return value


@pytest.mark.parametrize("func", [intmath.floor_div, intmath.ceil_div], ids=["floor_div", "ceil_div"])
@SYMBOLIC
@given(form=linear, b=divisors, x=fractions)
def test_division_symbolic_equals_numeric(func, form, b, x: Fraction) -> None:
    expr = func(build(form, X), b)
    expected = func(build(form, x), b)
    got = sympy.sympify(expr).subs(X, rational(x))
    assert numeric(got) == expected, (expr, x)


@SYMBOLIC
@given(a=st.integers(-5, 5), b=st.integers(-5, 5), x=fractions)
def test_smin_smax_where_symbolic_equals_numeric(a: int, b: int, x: Fraction) -> None:
    sx = rational(x)
    assert intmath.smax(a, X, b).subs(X, sx) == max(a, x, b)
    assert intmath.smin(a, X, b).subs(X, sx) == min(a, x, b)
    chosen = intmath.where(intmath.less(X, a), X + b, X - b)
    assert chosen.subs(X, sx) == (x + b if x < a else x - b)
