"""MobileNet v2, v3 Large and v3 Small against the constructors they describe, written out here as data.

torchvision's ``mobilenetv2.py`` / ``mobilenetv3.py`` and ``keras.applications.mobilenet_v3`` are
transcribed below as tables plus a few lines that walk them the way the constructors do (which module
exists, how wide, in what order). Every expectation is derived from those tables, never read back from
the specs, and compared layer by layer with the spec's network: names, present/absent, parameters,
MACs, widths. Closed forms are checked against the counts on both sides of every width switch.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import NamedTuple

import pytest
import sympy

from costmodel import SpecError, intmath, load_model, symbolic

V2 = "mobilenet_v2"
LARGE = "mobilenet_v3_large"
SMALL = "mobilenet_v3_small"
MODELS = [(V2, None), (LARGE, None), (SMALL, None), (LARGE, "keras"), (SMALL, "keras")]
ALPHAS = ["0.1", "0.35", "0.5", "0.75", "1.3", "2.0"]
ODD_RESOLUTIONS = [33, 97, 161, 225]
SCAN = [Fraction(k, 100) for k in range(5, 201)]  # alpha 0.05, 0.06, ..., 2.00


# -- make_divisible, as the two libraries write it ----------------------------------------------------


def torchvision_make_divisible(v, divisor, min_value=None):
    """torchvision.models._utils._make_divisible (= Keras's ``_depth``), verbatim: float arithmetic."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    # Make sure that round down does not go down by more than 10%.
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def exact_make_divisible(v: Fraction | int, divisor: int = 8) -> int:
    """The same rule on exact numbers (what the constructors compute when no float rounding interferes)."""
    v = Fraction(v)
    n, q = v.numerator, v.denominator  # integer arithmetic only: floor(v + divisor / 2), 0.9 * v
    new_v = max(divisor, (2 * n + divisor * q) // (2 * q) // divisor * divisor)
    if 10 * new_v * q < 9 * n:
        new_v += divisor
    return new_v


# -- the constructors' tables --------------------------------------------------------------------------

# torchvision MobileNetV2.__init__: inverted_residual_setting (t, c, n, s), first 32, last 1280
TV_V2_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
TV_V2_FIRST, TV_V2_LAST = 32, 1280


@dataclass(frozen=True)
class Bneck:
    """torchvision InvertedResidualConfig's arguments, in its order."""

    input_channels: int
    kernel: int
    expanded_channels: int
    out_channels: int
    use_se: bool
    activation: str  # "RE" or "HS"
    stride: int
    dilation: int


# torchvision _mobilenet_v3_conf (reduce_divider = dilation = 1)
TV_V3 = {
    LARGE: [
        Bneck(16, 3, 16, 16, False, "RE", 1, 1),
        Bneck(16, 3, 64, 24, False, "RE", 2, 1),
        Bneck(24, 3, 72, 24, False, "RE", 1, 1),
        Bneck(24, 5, 72, 40, True, "RE", 2, 1),
        Bneck(40, 5, 120, 40, True, "RE", 1, 1),
        Bneck(40, 5, 120, 40, True, "RE", 1, 1),
        Bneck(40, 3, 240, 80, False, "HS", 2, 1),
        Bneck(80, 3, 200, 80, False, "HS", 1, 1),
        Bneck(80, 3, 184, 80, False, "HS", 1, 1),
        Bneck(80, 3, 184, 80, False, "HS", 1, 1),
        Bneck(80, 3, 480, 112, True, "HS", 1, 1),
        Bneck(112, 3, 672, 112, True, "HS", 1, 1),
        Bneck(112, 5, 672, 160, True, "HS", 2, 1),
        Bneck(160, 5, 960, 160, True, "HS", 1, 1),
        Bneck(160, 5, 960, 160, True, "HS", 1, 1),
    ],
    SMALL: [
        Bneck(16, 3, 16, 16, True, "RE", 2, 1),
        Bneck(16, 3, 72, 24, False, "RE", 2, 1),
        Bneck(24, 3, 88, 24, False, "RE", 1, 1),
        Bneck(24, 5, 96, 40, True, "HS", 2, 1),
        Bneck(40, 5, 240, 40, True, "HS", 1, 1),
        Bneck(40, 5, 240, 40, True, "HS", 1, 1),
        Bneck(40, 5, 120, 48, True, "HS", 1, 1),
        Bneck(48, 5, 144, 48, True, "HS", 1, 1),
        Bneck(48, 5, 288, 96, True, "HS", 2, 1),
        Bneck(96, 5, 576, 96, True, "HS", 1, 1),
        Bneck(96, 5, 576, 96, True, "HS", 1, 1),
    ],
}
TV_V3_LAST = {LARGE: 1280, SMALL: 1024}  # last_channel = adjust_channels(...)

# keras.applications.mobilenet_v3 stack_fn: _inverted_res_block(x, expansion, depth(filters), kernel, stride,
# se_ratio, activation, block_id); kernel = 5, se_ratio = 0.25, activation = hard_swish (not minimalistic)
RE, HS = "relu", "hard_swish"
KERAS_V3 = {
    LARGE: [  # expansion, filters, kernel, stride, se, activation
        (1, 16, 3, 1, False, RE),
        (4, 24, 3, 2, False, RE),
        (3, 24, 3, 1, False, RE),
        (3, 40, 5, 2, True, RE),
        (3, 40, 5, 1, True, RE),
        (3, 40, 5, 1, True, RE),
        (6, 80, 3, 2, False, HS),
        ("2.5", 80, 3, 1, False, HS),
        ("2.3", 80, 3, 1, False, HS),
        ("2.3", 80, 3, 1, False, HS),
        (6, 112, 3, 1, True, HS),
        (6, 112, 3, 1, True, HS),
        (6, 160, 5, 2, True, HS),
        (6, 160, 5, 1, True, HS),
        (6, 160, 5, 1, True, HS),
    ],
    SMALL: [
        (1, 16, 3, 2, True, RE),
        ("72/16", 24, 3, 2, False, RE),
        ("88/24", 24, 3, 1, False, RE),
        (4, 40, 5, 2, True, HS),
        (6, 40, 5, 1, True, HS),
        (6, 40, 5, 1, True, HS),
        (3, 48, 5, 1, True, HS),
        (3, 48, 5, 1, True, HS),
        (6, 96, 5, 2, True, HS),
        (6, 96, 5, 1, True, HS),
        (6, 96, 5, 1, True, HS),
    ],
}
KERAS_V3_STEM = 16  # Conv2D(16, kernel_size=3, strides=(2, 2), ...) whatever alpha is

# torchvision's published num_params (the weights' metadata): anchors the walk below
TORCHVISION_NUM_PARAMS = {V2: 3504872, LARGE: 5483032, SMALL: 2542856}


# -- walking the tables as the constructors do ------------------------------------------------------------


class Layer(NamedTuple):
    name: str
    op: str
    params: int  # weights + biases + batch-norm gamma/beta (torchvision num_params, Keras trainable)
    macs: int  # convolutions and fully-connected layers
    channels: int


class Net:
    """Modules in execution order, named as the specs name them."""

    def __init__(self, resolution: int) -> None:
        self.side = resolution
        self.channels = 3
        self.layers: list[Layer] = []

    def add(self, name: str, op: str, params: int = 0, macs: int = 0) -> None:
        self.layers.append(Layer(name, op, params, macs, self.channels))

    def conv(self, name: str, out: int, k: int = 1, stride: int = 1, groups: int = 1, bias: bool = False) -> None:
        weights = out * (self.channels // groups) * k * k
        self.side = (self.side + 2 * ((k - 1) // 2) - k) // stride + 1  # padding (k - 1) // 2
        self.channels = out
        self.add(name, "conv2d", weights + (out if bias else 0), weights * self.side**2)

    def bn(self, name: str) -> None:
        self.add(name, "batchnorm", 2 * self.channels)

    def linear(self, name: str, out: int) -> None:
        weights = self.channels * out
        self.channels = out
        self.add(name, "linear", weights + out, weights)

    def pool(self, name: str) -> None:
        self.side = 1
        self.add(name, "global_avg_pool")

    def conv_bn_act(self, prefix: str, out: int, k: int, stride: int, act: str, groups: int = 1) -> None:
        self.conv(f"{prefix}.conv", out, k, stride, groups)
        self.bn(f"{prefix}.bn")
        self.add(f"{prefix}.{'hswish' if act == HS else act}", act)


def md(v: Fraction | int) -> int:
    return exact_make_divisible(v, 8)


@cache
def mobilenet_v2(alpha: Fraction, resolution: int) -> tuple[Layer, ...]:
    """torchvision MobileNetV2(width_mult=alpha), round_nearest 8."""
    net = Net(resolution)
    inp = md(TV_V2_FIRST * alpha)
    last = md(TV_V2_LAST * max(1, alpha))
    net.conv("stem.conv", inp, 3, 2)
    net.bn("stem.bn")
    net.add("stem.relu6", "relu6")
    for index, (t, c, n, s) in enumerate(TV_V2_SETTING, 1):
        out = md(c * alpha)
        for i in range(n):
            name = f"ir{index}.{i + 1}" if n > 1 else f"ir{index}"
            stride = s if i == 0 else 1
            hidden = round(inp * t)
            if t != 1:
                net.conv_bn_act(f"{name}.expand", hidden, 1, 1, "relu6")
            net.conv_bn_act(f"{name}.dw", hidden, 3, stride, "relu6", groups=hidden)
            net.conv(f"{name}.project", out)
            net.bn(f"{name}.project_bn")
            if stride == 1 and inp == out:  # use_res_connect
                net.add(f"{name}.add", "add")
            inp = out
    net.conv_bn_act("head", last, 1, 1, "relu6")
    net.pool("pool")
    net.add("dropout", "dropout")
    net.linear("fc", 1000)
    return tuple(net.layers)


def squeeze_excite(net: Net, prefix: str, squeeze: int) -> None:
    side, channels = net.side, net.channels
    net.pool(f"{prefix}.pool")
    net.conv(f"{prefix}.fc1", squeeze, bias=True)
    net.add(f"{prefix}.relu", "relu")
    net.conv(f"{prefix}.fc2", channels, bias=True)
    net.add(f"{prefix}.gate", "hard_sigmoid")
    net.side = side
    net.add(f"{prefix}.scale", "mul")


@cache
def mobilenet_v3(arch: str, alpha: Fraction, resolution: int, keras: bool = False) -> tuple[Layer, ...]:
    """torchvision mobilenet_v3_large/small(width_mult=alpha), or keras MobileNetV3Large/Small(alpha)."""
    net = Net(resolution)
    rows = TV_V3[arch]
    net.conv_bn_act("stem.conv", KERAS_V3_STEM if keras else md(rows[0].input_channels * alpha), 3, 2, HS)
    for block_id, row in enumerate(rows):
        name = f"b{block_id + 1}"
        infilters = net.channels
        if keras:
            expansion, filters, kernel, stride, se, act = KERAS_V3[arch][block_id]
            expansion = Fraction(expansion)
            out = md(filters * alpha)
            expands = block_id != 0  # `if block_id:`
            expanded = md(infilters * expansion) if expands else infilters
            se_filters = md(infilters * expansion)
            squeeze = md(se_filters * Fraction(1, 4))  # _depth(filters * se_ratio)
        else:
            assert md(row.input_channels * alpha) == infilters  # the table's chaining
            kernel, stride, se = row.kernel, row.stride, row.use_se
            act = HS if row.activation == "HS" else RE
            expanded, out = md(row.expanded_channels * alpha), md(row.out_channels * alpha)
            expands = expanded != infilters
            squeeze = md(expanded // 4)
        if expands:
            net.conv_bn_act(f"{name}.expand", expanded, 1, 1, act)
        net.conv_bn_act(f"{name}.dw", net.channels, kernel, stride, act, groups=net.channels)
        if se:
            squeeze_excite(net, f"{name}.se", squeeze)
        net.conv(f"{name}.project.conv", out)
        net.bn(f"{name}.project.bn")
        if stride == 1 and infilters == out:
            net.add(f"{name}.add", "add")
    last_conv = 6 * net.channels
    net.conv_bn_act("head.conv", md(last_conv) if keras else last_conv, 1, 1, HS)
    net.pool("head.pool")
    last = TV_V3_LAST[arch]
    net.linear("head.fc1", (md(last * alpha) if alpha > 1 else last) if keras else md(last * alpha))
    net.add("head.hswish", HS)
    net.add("head.dropout", "dropout")
    net.linear("head.fc2", 1000)
    return tuple(net.layers)


def constructor(name: str, variant: str | None, alpha: Fraction, resolution: int = 224) -> tuple[Layer, ...]:
    if name == V2:
        assert variant is None
        return mobilenet_v2(alpha, resolution)
    return mobilenet_v3(name, alpha, resolution, keras=variant == "keras")


def table_counts(name: str) -> Counter:
    """Present layers per op at alpha 1, counted straight from the torchvision table (no walk)."""
    counts: Counter = Counter()
    if name == V2:
        rows = []  # (t, stride, in, out) per block
        inp = TV_V2_FIRST
        for t, c, n, s in TV_V2_SETTING:
            for i in range(n):
                rows.append((t, s if i == 0 else 1, inp, c))
                inp = c
        expands = sum(t != 1 for t, *_ in rows)
        counts["add"] = sum(s == 1 and i == o for _, s, i, o in rows)
        counts["expand"] = expands
        counts["conv2d"] = counts["batchnorm"] = 1 + 2 * len(rows) + expands + 1  # stem, dw+project, head
        counts["relu6"] = 1 + len(rows) + expands + 1
        counts.update({"global_avg_pool": 1, "dropout": 1, "linear": 1})
        return counts
    rows = TV_V3[name]
    expand = [r.expanded_channels != r.input_channels for r in rows]
    se = sum(r.use_se for r in rows)
    counts["add"] = sum(r.stride == 1 and r.input_channels == r.out_channels for r in rows)
    counts["expand"] = sum(expand)
    counts["mul"] = counts["hard_sigmoid"] = se
    counts["hard_swish"] = 1 + sum(1 + e for r, e in zip(rows, expand, strict=True) if r.activation == "HS") + 2
    counts["relu"] = sum(1 + e for r, e in zip(rows, expand, strict=True) if r.activation == "RE") + se
    counts["conv2d"] = 1 + 2 * len(rows) + sum(expand) + 2 * se + 1
    counts["batchnorm"] = 1 + 2 * len(rows) + sum(expand) + 1
    counts["global_avg_pool"] = se + 1
    counts.update({"linear": 2, "dropout": 1})
    return counts


# -- the specs' side -------------------------------------------------------------------------------------


def model(name: str, variant: str | None = None):
    return load_model(name, variant)  # load_model caches


@cache
def costs(name: str, variant: str | None, alpha: Fraction, resolution: int = 224):
    m = model(name, variant)
    return m.costs(m.point(alpha=alpha, resolution=resolution))


@cache
def closed_forms(name: str, variant: str | None):
    m = model(name, variant)
    return symbolic.closed_form(m, "params"), symbolic.closed_form(m, "macs")


def present_layers(c) -> tuple[Layer, ...]:
    return tuple(Layer(x.name, x.op, x.params, x.macs, x.output_shape[0]) for x in c.layers if x.present is True)


def present_counts(c) -> Counter:
    counts = Counter(x.op for x in c.layers if x.present is True)
    counts["expand"] = sum(x.present is True for x in c.layers if x.name.endswith(".expand.conv"))
    assert counts["add"] == sum(x.present is True for x in c.layers if x.name.endswith(".add"))
    return counts


@cache
def closed_forms_at(name: str, variant: str | None, alpha: Fraction):
    """The closed forms with alpha substituted (once per width; the resolution is left to evaluate())."""
    alpha_symbol = model(name, variant).sympy_symbols["alpha"]
    value = sympy.Rational(alpha.numerator, alpha.denominator)
    return tuple(form.xreplace({alpha_symbol: value}) for form in closed_forms(name, variant))


def assert_closed_form_exact(name: str, variant: str | None, alpha: Fraction, resolution: int = 224) -> None:
    m = model(name, variant)
    point = m.point(alpha=alpha, resolution=resolution)
    c = costs(name, variant, alpha, resolution)
    params, macs = closed_forms_at(name, variant, alpha)
    assert symbolic.evaluate(params, m, point) == c.params
    assert symbolic.evaluate(macs, m, point) == c.macs


def switches(name: str, variant: str | None, suffixes: tuple[str, ...]) -> list[tuple[Fraction, Fraction, set]]:
    """Neighbouring alphas of the scan between which the constructor adds or drops a conditional layer."""
    found = []
    for low, high in itertools.pairwise(SCAN):
        names = [{x.name for x in constructor(name, variant, a) if x.name.endswith(suffixes)} for a in (low, high)]
        if names[0] != names[1]:
            found.append((low, high, names[0] ^ names[1]))
    return found


def ids(value) -> str | None:
    if value is None:
        return "torchvision"
    return format(float(value), "g") if isinstance(value, Fraction) else None


# -- 0. the walk reproduces the published parameter counts ----------------------------------------------


@pytest.mark.parametrize(("name", "variant"), MODELS, ids=ids)
def test_constructor_walk_gives_the_published_num_params(name: str, variant: str | None) -> None:
    """Keras's trainable count equals torchvision's num_params for all three (the specs' references)."""
    layers = constructor(name, variant, Fraction(1))
    assert sum(x.params for x in layers) == TORCHVISION_NUM_PARAMS[name]


# -- 1, 2. structure at alpha 1, 224 ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "variant"), MODELS, ids=ids)
def test_present_layers_per_op_match_the_torchvision_table(name: str, variant: str | None) -> None:
    counts = present_counts(costs(name, variant, Fraction(1)))
    expected = table_counts(name)
    for op, number in expected.items():
        assert counts[op] == number, op
    assert set(+counts) == set(+expected)  # no op the constructor does not have


def test_table_counts_are_the_known_torchvision_figures() -> None:
    """The derivation itself, spot-checked against what torchvision's modules show at alpha 1."""
    assert (table_counts(V2)["add"], table_counts(V2)["expand"]) == (10, 16)
    assert (table_counts(LARGE)["add"], table_counts(LARGE)["expand"], table_counts(LARGE)["mul"]) == (10, 14, 8)
    assert (table_counts(SMALL)["add"], table_counts(SMALL)["expand"], table_counts(SMALL)["mul"]) == (6, 10, 9)


@pytest.mark.parametrize("name", [LARGE, SMALL])
def test_keras_variant_is_the_torchvision_layout_at_alpha_1(name: str) -> None:
    torchvision, keras = costs(name, None, Fraction(1)), costs(name, "keras", Fraction(1))
    assert present_layers(keras) == present_layers(torchvision)
    assert [x.present for x in keras.layers] == [x.present for x in torchvision.layers]
    assert (keras.params, keras.macs) == (torchvision.params, torchvision.macs)
    for counting in ("keras", "paper", "folded"):
        m_k, m_t = model(name, "keras"), model(name)
        assert m_k.costs(m_k.point(), counting).params == m_t.costs(m_t.point(), counting).params


def test_mobilenet_v2_has_no_keras_variant() -> None:
    with pytest.raises(SpecError, match="unknown variant 'keras'"):
        load_model(V2, "keras")


# -- layer by layer, and the closed forms, over the width and resolution grid ---------------------------


GRID = [(a, ODD_RESOLUTIONS) for a in ALPHAS] + [("1", [224]), ("0.75", [224])]


@pytest.mark.parametrize(("name", "variant"), MODELS, ids=ids)
@pytest.mark.parametrize(
    ("alpha", "resolutions"), GRID, ids=lambda v: "-".join(map(str, v)) if isinstance(v, list) else v
)
def test_layers_and_closed_form_match_the_constructor(
    name: str, variant: str | None, alpha: str, resolutions: list[int]
) -> None:
    a = Fraction(alpha)
    for resolution in resolutions:
        c = costs(name, variant, a, resolution)
        expected = constructor(name, variant, a, resolution)
        assert present_layers(c) == expected, resolution
        assert c.params == sum(x.params for x in expected)
        assert c.macs == sum(x.macs for x in expected)
        assert_closed_form_exact(name, variant, a, resolution)


# -- 3. conditions: both sides of every switch ------------------------------------------------------------


def test_v2_first_block_adds_its_input_back_only_when_widths_agree() -> None:
    def add_present(alpha: Fraction) -> bool:
        (layer,) = [x for x in costs(V2, None, alpha).layers if x.name == "ir1.add"]
        return layer.present

    assert add_present(Fraction("0.1")) is True  # make_divisible(3.2) == make_divisible(1.6) == 8
    assert add_present(Fraction(1)) is False  # 32 != 16
    flips = switches(V2, None, ("ir1.add",))
    assert flips, "the scan must cross a switch"
    for low, high, _ in flips:
        for alpha in (low, high):
            agree = torchvision_make_divisible(32 * float(alpha), 8) == torchvision_make_divisible(16 * float(alpha), 8)
            assert add_present(alpha) is agree
            assert_closed_form_exact(V2, None, alpha)


@pytest.mark.slow
def test_v3_large_scan_expansions_and_residuals_follow_torchvision() -> None:
    """Every alpha of the scan: which expand convs and adds exist, and the totals, as torchvision builds them."""
    for alpha in SCAN:
        c = costs(LARGE, None, alpha)
        expected = constructor(LARGE, None, alpha)
        conditional = [x for x in c.layers if x.name.endswith((".expand.conv", ".add"))]
        assert {x.name for x in conditional if x.present is True} == {
            x.name for x in expected if x.name.endswith((".expand.conv", ".add"))
        }, alpha
        assert all(x.present in (True, False) for x in conditional)
        assert (c.params, c.macs) == (sum(x.params for x in expected), sum(x.macs for x in expected)), alpha
    # b1 (exp 16 == in 16) never expands in torchvision, at any width; other blocks' expansions do switch
    assert not any(x.name == "b1.expand.conv" for a in SCAN for x in constructor(LARGE, None, a))
    assert any(n.endswith(".expand.conv") for *_, changed in switches(LARGE, None, (".expand.conv",)) for n in changed)


# every switch of v3 Large (both layouts) and v2; for v3 Small its expansions and the first two flips of
# b7's add (40 against 48 wide: equal whenever both round alike, which the scan crosses nine times)
SWITCHES = [
    (LARGE, None, (".expand.conv", ".add"), None),
    (LARGE, "keras", (".expand.conv", ".add"), None),
    (V2, None, (".expand.conv", ".add"), None),
    (SMALL, None, (".expand.conv",), None),
    (SMALL, None, (".add",), 2),
    (SMALL, "keras", (".expand.conv", ".add"), 2),
]
SWITCH_SIDES = sorted(
    {
        (name, variant, alpha)
        for name, variant, suffixes, first in SWITCHES
        for low, high, _ in switches(name, variant, suffixes)[:first]
        for alpha in (low, high)
    },
    key=lambda t: (t[0], t[1] or "", t[2]),
)


@pytest.mark.parametrize(("name", "variant", "alpha"), SWITCH_SIDES, ids=ids)
def test_closed_form_on_both_sides_of_each_switch(name: str, variant: str | None, alpha: Fraction) -> None:
    c = costs(name, variant, alpha)
    assert present_layers(c) == constructor(name, variant, alpha)
    assert_closed_form_exact(name, variant, alpha)


def test_the_scans_cross_expansion_switches() -> None:
    """b2's expansion (64 vs 16 wide) disappears at tiny widths where both round up to 8."""
    expand_flips = [
        (lo, hi) for lo, hi, changed in switches(LARGE, None, (".expand.conv",)) if "b2.expand.conv" in changed
    ]
    assert expand_flips
    lo, hi = expand_flips[0]
    assert md(64 * lo) == md(16 * lo)
    assert md(64 * hi) != md(16 * hi)
    assert {x.name for x in costs(LARGE, None, lo).layers if x.present is True} == {
        x.name for x in constructor(LARGE, None, lo)
    }
    assert "b2.expand.conv" in {x.name for x in costs(LARGE, None, hi).layers if x.present is True}


# -- 4. make_divisible ----------------------------------------------------------------------------------


@pytest.mark.parametrize("divisor", [8, 16])
def test_make_divisible_is_torchvisions_rule(divisor: int) -> None:
    bumped = []
    for v in range(1, 2000):
        for exact, approx in ((v, v), (Fraction(v, 10), v / 10)):
            got = intmath.make_divisible(exact, divisor)
            assert got == torchvision_make_divisible(approx, divisor) == exact_make_divisible(exact, divisor), exact
            assert isinstance(got, int)
            assert got % divisor == 0
            rounded = max(divisor, int(approx + divisor / 2) // divisor * divisor)
            if rounded < 0.9 * approx:
                bumped.append(exact)
                assert got == rounded + divisor
            else:
                assert got == rounded
    assert len(bumped) >= 5  # the 10 % rule does fire on this range
    assert max(bumped) < 5 * divisor  # and only where half a divisor is more than 10 %


def test_make_divisible_ten_percent_bump_cases() -> None:
    # nearest multiple of 8 loses more than 10 %: one more divisor
    assert intmath.make_divisible(9, 8) == 16  # 8 < 8.1
    assert intmath.make_divisible(11, 8) == 16  # 8 < 9.9
    assert intmath.make_divisible(19, 8) == 24  # 16 < 17.1
    assert intmath.make_divisible(27, 8) == 32  # 24 < 24.3
    assert intmath.make_divisible(Fraction(88, 10), 8) == 8  # 8 >= 7.92
    assert intmath.make_divisible(Fraction(89, 10), 8) == 16  # 8 < 8.01
    assert intmath.make_divisible(Fraction(9, 1), 16) == 16  # minimum
    assert intmath.make_divisible(23, 16) == 32  # 16 < 20.7
    assert intmath.make_divisible(12, 8) == 16  # halves round up
    assert intmath.make_divisible(Fraction(1, 10), 8) == 8


def test_make_divisible_symbolic_agrees() -> None:
    alpha = sympy.Symbol("alpha", positive=True)
    form = intmath.make_divisible(200 * alpha, 8)
    plain = intmath.expand_make_divisible(form)
    for k in range(1, 400, 3):
        want = exact_make_divisible(200 * Fraction(k, 100))
        value = sympy.Rational(k, 100)
        assert (
            form.subs(alpha, value)
            == want
            == plain.subs(alpha, value)
            == intmath.make_divisible(200 * Fraction(k, 100))
        )


def test_float_widths_can_round_differently_from_exact_ones() -> None:
    """The premise of the two expected failures at the end of this file, independent of any spec."""
    assert 200 * 0.58 < 116
    assert torchvision_make_divisible(200 * 0.58, 8) == 112
    assert exact_make_divisible(200 * Fraction("0.58")) == intmath.make_divisible(Fraction(116)) == 120
    assert 200 * 2.3 < 460
    assert torchvision_make_divisible(200 * 2.3, 8) == 456
    assert exact_make_divisible(200 * Fraction("2.3")) == 464
    # nowhere else on the scan grid, for any width the three tables use
    widths = {c for t, c, n, s in TV_V2_SETTING} | {TV_V2_FIRST, TV_V2_LAST} | set(TV_V3_LAST.values())
    widths |= {w for rows in TV_V3.values() for r in rows for w in (r.input_channels, r.expanded_channels)}
    differ = {
        (float(a), w)
        for a in SCAN
        for w in widths
        if torchvision_make_divisible(w * float(a), 8) != exact_make_divisible(w * a)
    }
    assert differ == {(0.58, 200), (1.14, 200)}
    # Keras's float ratios (2.3, 72.0 / 16, 88.0 / 24) against exact ones: no difference up to alpha 2
    ratios = {  # (the previous block's filters, the ratio as Keras writes it, exactly)
        (previous[1], Fraction(row[0]), float(Fraction(row[0])))
        for rows in KERAS_V3.values()
        for previous, row in itertools.pairwise(rows)
    }
    for a in SCAN:
        for filters, exact, approx in ratios:
            infilters = exact_make_divisible(filters * a)
            assert torchvision_make_divisible(infilters * approx, 8) == exact_make_divisible(infilters * exact)


# -- 5. Keras vs torchvision at alpha 0.75 ----------------------------------------------------------------


def _width(c, name: str) -> int:
    (layer,) = [x for x in c.layers if x.name == name]
    return layer.output_shape[0]


def test_keras_v3_large_at_0_75() -> None:
    a = Fraction(3, 4)
    keras, torchvision = costs(LARGE, "keras", a), costs(LARGE, None, a)
    # Keras: Conv2D(16, ...) fixed; torchvision: make_divisible(16 * 0.75 = 12) = 16 as well
    assert _width(keras, "stem.conv.conv") == KERAS_V3_STEM
    assert _width(torchvision, "stem.conv.conv") == torchvision_make_divisible(16 * 0.75, 8) == 16
    # ... but at 0.5 they part: 16 against make_divisible(8) = 8
    assert _width(costs(LARGE, "keras", Fraction(1, 2)), "stem.conv.conv") == 16
    assert _width(costs(LARGE, None, Fraction(1, 2)), "stem.conv.conv") == 8
    # the last linear: Keras only grows it (alpha > 1), torchvision scales it
    assert _width(keras, "head.fc1") == 1280
    assert _width(torchvision, "head.fc1") == torchvision_make_divisible(1280 * 0.75, 8) == 960
    # expansions: Keras scales the already-rounded input by the ratio, torchvision the table's width
    assert _width(keras, "b2.expand.conv") == torchvision_make_divisible(16 * 4, 8) == 64
    assert _width(torchvision, "b2.expand.conv") == torchvision_make_divisible(64 * 0.75, 8) == 48
    # the paper's Table 3 (Large 0.75: 4.0 M parameters, 155 M MAdds) is the Keras/TF layout
    m = model(LARGE, "keras")
    paper = m.costs(m.point(alpha=a), "paper")
    assert round(paper.params / 1e6, 1) == 4.0
    assert round(paper.macs / 1e6) == 155
    t = model(LARGE)
    tv_paper = t.costs(t.point(alpha=a), "paper")
    assert (round(tv_paper.params / 1e6, 1), round(tv_paper.macs / 1e6)) != (4.0, 155)
    # where the two layouts differ at 0.75, the constructors differ the same way
    differ = {x.name for x in present_layers(keras)} ^ {x.name for x in present_layers(torchvision)}
    widths_k = {x.name: x.channels for x in present_layers(keras)}
    widths_t = {x.name: x.channels for x in present_layers(torchvision)}
    walk_k = {x.name: x.channels for x in constructor(LARGE, "keras", a)}
    walk_t = {x.name: x.channels for x in constructor(LARGE, None, a)}
    assert differ == set(walk_k) ^ set(walk_t)
    assert {n for n in widths_k if widths_t.get(n) != widths_k[n]} == {n for n in walk_k if walk_t.get(n) != walk_k[n]}


# -- 6. MobileNet v2's last conv --------------------------------------------------------------------------


@pytest.mark.parametrize(("alpha", "width"), [("0.5", 1280), ("1.0", 1280), ("1.4", 1792)])
def test_v2_head_keeps_1280_below_alpha_1_and_grows_above(alpha: str, width: int) -> None:
    a = Fraction(alpha)
    want = 1280 if a <= 1 else torchvision_make_divisible(1280 * float(a), 8)
    assert want == width
    c = costs(V2, None, a)
    assert _width(c, "head.conv") == width
    (fc,) = [x for x in c.layers if x.name == "fc"]
    assert fc.input_shapes[0][0] == width


# -- known divergences: the specs compute widths exactly, the libraries in floating point ----------------


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="torchvision computes 200 * 0.58 = 115.99999999999999 in floats and rounds b8's expansion to 112; "
    "the spec's exact arithmetic gives make_divisible(116) = 120 (also alpha 1.14: 224 against 232)",
)
@pytest.mark.parametrize("alpha", ["0.58", "1.14"])
def test_v3_large_b8_expansion_with_torchvision_float_widths(alpha: str) -> None:
    want = torchvision_make_divisible(200 * float(alpha), 8)
    assert _width(costs(LARGE, None, Fraction(alpha)), "b8.expand.conv") == want


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="Keras computes 200 * 2.3 = 459.99999999999994 in floats (_depth gives 456); the keras variant's "
    "exact 184/80 gives make_divisible(460) = 464 for b9 and b10 at alpha 2.5",
)
def test_keras_v3_large_b9_expansion_with_float_ratio() -> None:
    c = costs(LARGE, "keras", Fraction(5, 2))
    infilters = _width(c, "b8.project.conv")  # depth(80 * 2.5) = 200
    assert _width(c, "b9.expand.conv") == torchvision_make_divisible(infilters * 2.3, 8)
