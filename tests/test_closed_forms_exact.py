"""Closed forms against the counts: exact at random valid points, compiled and still exact, smooth within
its stated bounds, and readable.

Random points are drawn from each symbol's domain: irregular widths (α = 0.37, 1.13), odd resolutions
from the model's minimum up, other class counts, SqueezeNet's metaparameters; a point the network
cannot run at is drawn again. The default run checks fewer points than the slow run (``-m slow``).
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import sympy
from click.testing import CliRunner

from costmodel import UserError, forms, load_model, symbolic
from costmodel.cli import main
from costmodel.conventions import PRESETS
from costmodel.costs import count
from costmodel.model import Model, Point
from costmodel.resources import builtin_names

MODELS = builtin_names()
METRICS = ("params", "macs")
# the default run checks the small models; the v3s (seconds each) run with the slow tests' larger samples
QUICK = [pytest.param(m, marks=pytest.mark.slow) if m.startswith("mobilenet_v3") else m for m in MODELS]
# EfficientNet's inline form (every repetition a depth may add, 100 KB of text) takes a minute to read back
READABLE = [pytest.param(m, marks=pytest.mark.slow) if m == "efficientnet" else m for m in MODELS]


def random_points(model: Model, count_: int, seed: int = 0) -> list[Point]:
    rng = np.random.default_rng(seed)
    roles = model.roles
    low = model.min_resolution() or 1
    points: list[Point] = []
    while len(points) < count_:
        values: dict[str, str] = {}
        for name, symbol in model.spec.symbols.items():
            if name == roles.resolution:
                continue
            if name == roles.width:
                values[name] = f"{rng.integers(20, 151)}/100"
            elif name == roles.classes:
                values[name] = str(rng.integers(1, 2001))
            elif symbol.integer:
                lowest = int(min((b for op, b in symbol.bounds if op.startswith(">")), default=0))
                values[name] = str(rng.integers(max(lowest, 0), 2 * int(symbol.default) + 2))
            else:  # in sixteenths, up to the domain's bound where it has one (a depth multiplier's 4)
                highest = min((b for op, b in symbol.bounds if op.startswith("<")), default=1)
                values[name] = f"{rng.integers(1, int(16 * highest))}/16"
        resolution = int(rng.integers(low, 401)) if model.base_resolution is not None else None
        try:
            point = model.point(resolution=resolution, values=values)
            model.network(point)
        except UserError:
            continue
        points.append(point)
    return points


def counts_at(model: Model, point: Point) -> dict[tuple[str, str], int]:
    """(metric, preset) -> the count, one network for all presets."""
    network = model.network(point)
    result = {}
    for preset in PRESETS.values():
        costs = count(network, preset)
        for metric in METRICS:
            result[(metric, preset.name)] = int(getattr(costs, metric))
    return result


def _exact_form_equals_the_count(name: str, how_many: int) -> None:
    model = load_model(name)
    forms_ = {(m, p): symbolic.form(model, m, p) for m in METRICS for p in PRESETS}
    for point in random_points(model, how_many):
        expected = counts_at(model, point)
        values = model.substitution(point)
        for key, form in forms_.items():
            assert form.evaluate(values) == expected[key], (name, key, point)


@pytest.mark.parametrize("name", QUICK)
def test_the_exact_form_equals_the_count_at_random_points(name: str) -> None:
    _exact_form_equals_the_count(name, 20)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_the_exact_form_equals_the_count_at_200_random_points(name: str) -> None:
    _exact_form_equals_the_count(name, 200)


def _arrays(model: Model, points: list[Point]) -> dict[str, Any]:
    """The points as the evaluator takes them: exact (numerator, denominator) pairs, integer sides."""
    arrays: dict[str, Any] = {}
    for name in model.spec.symbols:
        if name == model.roles.resolution:
            continue
        values = [p.values[name] for p in points]
        arrays[name] = (np.array([v.numerator for v in values]), np.array([v.denominator for v in values]))
    if model.base_resolution is not None:
        arrays["resolution"] = np.array([p.resolution for p in points])
    return arrays


def _compiled_equals_the_count(name: str, how_many: int) -> int:
    model = load_model(name)
    points = random_points(model, how_many, seed=1)
    expected = [counts_at(model, p) for p in points]
    arrays = _arrays(model, points)
    checked = 0
    for metric in METRICS:
        for preset in PRESETS:
            got = symbolic.compile(model, metric, preset)(**arrays)
            want = np.array([e[(metric, preset)] for e in expected])
            mismatch = np.flatnonzero(got != want)
            assert mismatch.size == 0, (name, metric, preset, points[mismatch[0]], got[mismatch[0]])
            checked += len(points)
    return checked


@pytest.mark.parametrize("name", QUICK)
def test_the_compiled_evaluator_equals_the_count(name: str) -> None:
    assert _compiled_equals_the_count(name, 60) == 60 * len(METRICS) * len(PRESETS)


@pytest.mark.parametrize(
    ("name", "values"), [("mobilenet_v3_small", {"rho": 6469693229}), ("mobilenet_v1", {"alpha": 5260421})]
)
def test_the_compiled_evaluator_is_exact_past_int64_at_a_single_point(name: str, values: dict[str, int]) -> None:
    """One point given as scalars: NumPy's ufuncs on them give Python scalars, whose branches np.where
    made int64, which the huge values then overflowed (an OverflowError, or a silent wrap with a
    warning). The wide path keeps every number a Python integer (fuzz seed 14)."""
    model = load_model(name)
    point = model.point(**values)
    with np.errstate(all="raise"):
        for metric in ("macs", "params"):
            got = int(symbolic.compile(model, metric, "torchvision")(**values))
            assert got == getattr(model.costs(point), metric), (name, metric)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_the_compiled_evaluator_equals_the_count_at_10000_values(name: str) -> None:
    """1,000 points × {params, MACs} × five presets: 10,000 exact values per model."""
    assert _compiled_equals_the_count(name, 1000) >= 10_000


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet"])
def test_a_grid_of_widths_down_and_sides_across_is_the_count_at_every_cell(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """α as a column and the sides as a row keep their shapes through the evaluation (a width is worked
    out once per α); the cells are the counts, and what the flattened, chunked evaluation gives."""
    from costmodel import compiled

    model = load_model(name)
    alphas, sides = ["0.35", "0.8", "1.3"], [97, 160, 224]
    evaluate = symbolic.compile(model, "macs")
    grid = evaluate(
        alpha=np.array([float(a) for a in alphas]).reshape(-1, 1), resolution=np.array(sides).reshape(1, -1)
    )
    assert grid.shape == (3, 3)
    for i, alpha in enumerate(alphas):
        for j, side in enumerate(sides):
            assert grid[i, j] == model.costs(model.point(alpha=alpha, resolution=str(side))).macs
    monkeypatch.setattr(compiled, "BROADCAST_POINTS", 0)
    flat = evaluate(alpha=np.repeat([float(a) for a in alphas], 3), resolution=np.tile(sides, 3))
    assert flat.tolist() == grid.reshape(-1).tolist()


def test_the_compiled_evaluator_does_not_round_like_floats() -> None:
    """ceil(112·ρ) at 450 px is 225; 112 · (450/224) in floating point is 225.00000000000003."""
    model = load_model("mobilenet_v1")
    sides = np.arange(400, 481)
    got = symbolic.compile(model, "macs")(resolution=sides, alpha=["0.37"] * len(sides))
    want = [model.costs(model.point(alpha="0.37", resolution=int(s))).macs for s in sides]
    assert got.tolist() == want


def test_the_compiled_evaluator_reads_every_kind_of_number() -> None:
    model = load_model("mobilenet_v2")
    evaluate = symbolic.compile(model, "params")
    want = model.costs(model.point(alpha="0.35")).params
    for alpha in (0.35, "0.35", Fraction(7, 20), (np.array([7]), np.array([20])), np.array([0.35])):
        assert np.ravel(evaluate(alpha=alpha)).tolist() == [want], alpha


def test_huge_values_take_exact_python_integers() -> None:
    model = load_model("mobilenet_v1")
    alphas = ["1000000", "3/7"]
    got = symbolic.compile(model, "macs")(alpha=alphas, resolution=[2240, 225])
    assert got.dtype == object  # past int64's range somewhere: exact Python integers throughout
    want = [model.costs(model.point(alpha=a, resolution=r)).macs for a, r in zip(alphas, (2240, 225), strict=True)]
    assert got.tolist() == want


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("mobilenet_v1", {"alpha": [0, 1]}, "alpha must be > 0"),
        ("mobilenet_v1", {"num_classes": ["1.5"]}, "num_classes must be an integer"),
        ("squeezenet1_0", {"resolution": [224, 20]}, "no pixels"),
        ("squeezenet1_0", {"sr": ["1/1000"]}, "no channels"),
        ("mobilenet_v1", {"alpha": [0.123456789]}, "decimals of at most 6 places"),
        ("mobilenet_v1", {"beta": [1]}, "no symbol 'beta'"),
    ],
)
def test_the_compiled_evaluator_refuses_invalid_points(name: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        symbolic.compile(load_model(name), "macs")(**values)


# -- smooth ---------------------------------------------------------------------------------------


def _relative_error(model: Model, metric: str, point: Point) -> float:
    smooth = symbolic.smooth(model, metric, at=point)
    exact = getattr(model.costs(point), metric)
    return float(smooth.xreplace(model.substitution(point)) / exact - 1)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("name", MODELS)
def test_the_smooth_form_is_within_5_percent_at_the_default_point(name: str, metric: str) -> None:
    model = load_model(name)
    assert abs(_relative_error(model, metric, model.default_point())) <= 0.05


def published_configurations() -> list[tuple[str, str | None, dict[str, Any]]]:
    """(model, variant, point) of every accuracy and reference row with α ≥ 0.5 (or no α)."""
    found = []
    for name in MODELS:
        model = load_model(name)
        for row in model.spec.accuracy:
            alpha = row.get("alpha")
            if alpha is not None and Fraction(str(alpha)) < Fraction(1, 2):
                continue
            point = {"resolution": row.get("resolution", 224)}
            if alpha is not None:
                point["alpha"] = str(alpha)
            found.append((name, row.get("variant"), point))
        for row in model.spec.reference:
            values = dict(row.get("point") or {})
            alpha = values.get("alpha")
            if alpha is not None and Fraction(str(alpha)) < Fraction(1, 2):
                continue
            point = {"resolution": values.pop("resolution", None), "values": {k: str(v) for k, v in values.items()}}
            found.append((name, row.get("variant"), point))
    unique = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique


CONFIGURATIONS = published_configurations()


def test_there_are_published_configurations_to_check() -> None:
    assert len(CONFIGURATIONS) >= 30


@pytest.mark.parametrize(("name", "variant", "values"), CONFIGURATIONS, ids=[str(c) for c in CONFIGURATIONS])
def test_the_smooth_form_is_within_10_percent_at_published_configurations(
    name: str, variant: str | None, values: dict[str, Any]
) -> None:
    model = load_model(name, variant)
    point = model.point(**values)
    for metric in METRICS:
        assert abs(_relative_error(model, metric, point)) <= 0.10, metric


# -- expr --------------------------------------------------------------------------------------------


def expr_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["expr", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_scaling_the_resolution_by_a_half_quarters_the_spatial_terms() -> None:
    data = expr_json("mobilenet", "--scale", "rho=1/2")
    ratios = {t["monomial"]: t["ratio"] for t in data["terms"]}
    assert ratios == {"alpha**2*rho**2": "1/4", "alpha*rho**2": "1/4", "alpha": "1"}
    model = load_model("mobilenet")
    exact = data["scale"]["exact"]
    assert exact["after"] == model.costs(model.point(resolution=112)).macs
    assert exact["before"] == model.costs().macs


@pytest.mark.parametrize("name", READABLE)
def test_the_json_reads_back_with_the_documented_locals(name: str) -> None:
    model = load_model(name)
    point = model.default_point()
    for metric in METRICS:
        data = expr_json(name, "--metric", metric)
        assert set(data["functions"]) <= set(forms.sympify_locals())
        inline = sympy.sympify(data["expression"], locals=forms.sympify_locals())
        values = {sympy.Symbol(n): sympy.Rational(v.numerator, v.denominator) for n, v in point.values.items()}
        assert inline.subs(values) == getattr(model.costs(point), metric)
        for quantity, definition in data["definitions"].items():  # the same from the named form
            values[sympy.Symbol(quantity)] = sympy.sympify(definition, locals=forms.sympify_locals()).subs(values)
        named = sympy.sympify(data["body"], locals=forms.sympify_locals()).subs(values)
        assert named == getattr(model.costs(point), metric) == data["value"]


def test_a_form_names_each_width_and_side_once() -> None:
    form = symbolic.form(load_model("mobilenet_v3_large"), "macs")
    text = "\n".join(f"{s} = {d}" for s, d in form.definitions.items()) + "\n" + str(form.body)
    assert len(text) < 4000  # it was 16 KB of nested Piecewise
    assert not any(isinstance(d, sympy.Piecewise) for d in form.definitions.values())
    assert len({str(d) for d in form.definitions.values()}) == len(form.definitions)
