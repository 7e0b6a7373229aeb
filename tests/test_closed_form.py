"""The closed forms are exact, and the counts behave as the architecture says they must."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from costmodel import UserError, load_model, symbolic
from costmodel.resources import builtin_names

MODELS = builtin_names()
PRESETS = ("torchvision", "keras", "paper", "weights", "folded")

alphas = st.integers(min_value=5, max_value=200).map(lambda n: Fraction(n, 100))
resolutions = st.integers(min_value=1, max_value=320)
classes = st.integers(min_value=1, max_value=3000)


def _point_or_none(model, **values):
    resolution = values.pop("resolution", None)
    values = {k: v for k, v in values.items() if k in model.spec.symbols}
    try:
        point = model.point(resolution=resolution, values=values)
        model.network(point)
    except UserError:
        return None
    return point


@pytest.mark.parametrize(
    "name",
    [pytest.param(m, marks=pytest.mark.slow) if m.startswith(("mobilenet_v3", "efficientnet")) else m for m in MODELS],
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alpha=alphas, resolution=resolutions, num_classes=classes)
def test_closed_form_equals_count(name: str, alpha: Fraction, resolution: int, num_classes: int) -> None:
    model = load_model(name)
    point = _point_or_none(model, alpha=alpha, resolution=resolution, num_classes=num_classes)
    assume(point is not None)
    for counting in ("torchvision", "folded"):
        costs = model.costs(point, counting)
        assert symbolic.evaluate(symbolic.closed_form(model, "params", counting), model, point) == costs.params
    assert symbolic.evaluate(symbolic.closed_form(model, "macs"), model, point) == costs.macs
    assert symbolic.evaluate(symbolic.closed_form(model, "other_ops"), model, point) == costs.other_ops


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sr=st.integers(min_value=1, max_value=100).map(lambda n: Fraction(n, 100)),
    pct3x3=st.integers(min_value=1, max_value=99).map(lambda n: Fraction(n, 100)),
    base_e=st.integers(min_value=16, max_value=256),
    incr_e=st.integers(min_value=0, max_value=256),
    freq=st.integers(min_value=1, max_value=8),
    resolution=st.integers(min_value=17, max_value=300),
)
def test_squeezenet_metaparameters_closed_form(sr, pct3x3, base_e, incr_e, freq, resolution) -> None:
    """The SqueezeNet paper's design space: every metaparameter is a symbol of the exact form."""
    model = load_model("squeezenet1_1")
    point = _point_or_none(model, sr=sr, pct3x3=pct3x3, base_e=base_e, incr_e=incr_e, freq=freq, resolution=resolution)
    assume(point is not None)
    costs = model.costs(point, "paper")
    assert symbolic.evaluate(symbolic.closed_form(model, "params", "paper"), model, point) == costs.params
    assert symbolic.evaluate(symbolic.closed_form(model, "macs"), model, point) == costs.macs


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("resolution", [33, 97, 127, 161, 193, 225, 255])
def test_closed_form_at_odd_resolutions(name: str, resolution: int) -> None:
    model = load_model(name)
    point = _point_or_none(model, resolution=resolution, alpha=Fraction(3, 4))
    if point is None:
        assert resolution < model.min_resolution()
        return
    costs = model.costs(point)
    assert symbolic.evaluate(symbolic.closed_form(model, "macs"), model, point) == costs.macs


def test_per_layer_closed_forms_sum_to_the_total() -> None:
    model = load_model("mobilenet_v1")
    point = model.point(alpha="0.35", resolution=131)
    layers = symbolic.per_layer(model, "macs")
    costs = model.costs(point)
    by_name = {layer.name: layer.macs for layer in costs.layers}
    for name, form in layers.items():
        assert symbolic.evaluate(form, model, point) == by_name[name], name
    assert sum(by_name[name] for name in layers) == costs.macs


@pytest.mark.parametrize("name", MODELS)
def test_macs_non_decreasing_in_resolution(name: str) -> None:
    model = load_model(name)
    start = model.min_resolution()
    macs = [model.costs(model.point(resolution=r)).macs for r in range(start, start + 120, 7)]
    assert macs == sorted(macs)
    assert macs[-1] > macs[0]


@pytest.mark.parametrize("resolution", [96, 129, 224])
def test_mobilenet_macs_and_params_non_decreasing_in_alpha(resolution: int) -> None:
    model = load_model("mobilenet_v1")
    steps = [Fraction(n, 40) for n in range(1, 81)]
    costs = [model.costs(model.point(alpha=a, resolution=resolution)) for a in steps]
    macs = [c.macs for c in costs]
    params = [c.params for c in costs]
    assert macs == sorted(macs) and params == sorted(params)
    assert macs[-1] > 10 * macs[0]


@pytest.mark.parametrize("name", MODELS)
def test_params_independent_of_resolution(name: str) -> None:
    """All four heads are global or adaptive pools, so weights never depend on the input size."""
    model = load_model(name)
    form = symbolic.closed_form(model, "params")
    assert model.sympy_symbols["rho"] not in form.free_symbols
    counts = {model.costs(model.point(resolution=r)).params for r in (model.min_resolution(), 100, 224, 301)}
    assert len(counts) == 1


@pytest.mark.parametrize("name", MODELS)
def test_counting_presets_relations(name: str) -> None:
    model = load_model(name)
    point = model.point(resolution=160)
    c = {preset: model.costs(point, preset) for preset in PRESETS}
    kinds = c["torchvision"].params_by_kind
    assert c["keras"].params == c["torchvision"].params + kinds["norm_stats"]
    assert c["paper"].params == c["torchvision"].params - kinds["norm_affine"]
    assert c["weights"].params == kinds["weight"]
    assert len({c[p].macs for p in PRESETS}) == 1  # MACs never depend on the convention
    norms = [layer for layer in c["torchvision"].layers if layer.op == "batchnorm" and layer.present is True]
    # folding adds one bias per batch-norm channel to the bias-free convs before them
    assert c["folded"].params == kinds["weight"] + kinds["bias"] + sum(layer.output_shape[0] for layer in norms)


def test_mobilenet_smooth_form_is_the_scaling_law() -> None:
    model = load_model("mobilenet_v1")
    alpha, rho, k = (model.sympy_symbols[s] for s in ("alpha", "rho", "num_classes"))
    smooth = symbolic.smooth(model, "macs")
    assert sympy.expand(smooth - (539492352 * alpha**2 * rho**2 + 28224000 * alpha * rho**2 + 1024 * alpha * k)) == 0
    # where no rounding happens (alpha = 1, side a multiple of 32) smooth and exact agree
    for resolution in (224, 160, 128):
        point = model.point(resolution=resolution)
        assert symbolic.evaluate(smooth, model, point) == model.costs(point).macs
    terms = symbolic.leading_terms(smooth, [alpha, rho])
    assert terms[0].monomial == alpha**2 * rho**2
    assert sympy.expand(terms[-1].coefficient - 1024 * k) == 0


def test_closed_form_keeps_the_floor_rule_below_alpha_008() -> None:
    """max(floor(c·α), 8): at small α the first layers stop shrinking, and the formula knows."""
    model = load_model("mobilenet_v1")
    form = symbolic.closed_form(model, "params")
    for alpha in ("0.05", "0.1", "0.125", "0.2", "0.26", "1.3"):
        point = model.point(alpha=alpha)
        assert symbolic.evaluate(form, model, point) == model.costs(point).params
    first = model.costs(model.point(alpha="0.1")).layers[0]
    assert first.output_shape[0] == 8
