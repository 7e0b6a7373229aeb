"""slice and channel_shuffle (costmodel.ops.channels): ShuffleNet v2's channel split and shuffle.

Claims:
- a slice gives (stop - start, H, W), a shuffle its input's shape; neither has weights, MACs or other
  ops, for numbers and for symbols alike; impossible values are refused with a message saying why;
- ``start`` and ``stop`` are positions, not widths: the width rule never scales them, and 0 is allowed;
- the kernels equal plain NumPy (a shuffle of arange is a known permutation, and shuffling with g then
  C/g is the identity) and never hand back a view of their input;
- a ShuffleNet v2 unit written in YAML passes ``costmodel verify``, exports to ONNX that onnxruntime runs
  as the executor does, and imports back with the same layers, parameters and MACs;
- ONNX Split (opset 13 and 18), Slice and torchvision's Reshape-Transpose-Reshape shuffle import as
  these layers, named after their nodes, and ``costmodel run`` on them equals onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy
from click.testing import CliRunner

from costmodel import executor
from costmodel.cli import main
from costmodel.errors import SpecError
from costmodel.loading import load_model
from costmodel.ops import REGISTRY, ShapeError

RNG = np.random.default_rng(11)


def slice_op(start: Any, stop: Any) -> Any:
    return REGISTRY["slice"](start=start, stop=stop)


def shuffle_op(groups: Any) -> Any:
    return REGISTRY["channel_shuffle"](groups=groups)


def floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def write(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- shapes and counts -----------------------------------------------------------------------------


def test_shapes_and_counts() -> None:
    for op, shape, output in [
        (slice_op(0, 4), (8, 5, 6), (4, 5, 6)),
        (slice_op(4, 8), (8, 5, 6), (4, 5, 6)),
        (slice_op(0, 8), (8, 5, 6), (8, 5, 6)),
        (shuffle_op(2), (8, 5, 6), (8, 5, 6)),
        (shuffle_op(8), (8, 5, 6), (8, 5, 6)),
    ]:
        out = op.output_shape([shape])
        assert out == output
        assert op.weights([shape]) == {}
        assert op.macs([shape], out) == 0 and op.other_ops([shape], out) == 0


def test_symbolic_shapes() -> None:
    c, h = sympy.symbols("c h", integer=True, positive=True)
    half = sympy.floor(c / 2)
    first, second = slice_op(0, half), slice_op(half, c)
    assert first.output_shape([(c, h, h)]) == (half, h, h)
    assert second.output_shape([(c, h, h)]) == (c - half, h, h)
    assert shuffle_op(2).output_shape([(c, h, h)]) == (c, h, h)  # divisibility is checked at a point
    assert slice_op(2, 6).output_shape([(c, h, h)]) == (4, h, h)  # stop <= c is checked at a point
    for op in (first, second, shuffle_op(2)):
        out = op.output_shape([(c, h, h)])
        assert op.macs([(c, h, h)], out) == 0 and op.other_ops([(c, h, h)], out) == 0


@pytest.mark.parametrize(
    ("op", "shape", "message"),
    [
        (slice_op(4, 4), (8, 2, 2), "slice start 4 must be less than its stop 4"),
        (slice_op(6, 2), (8, 2, 2), "slice start 6 must be less than its stop 2"),
        (slice_op(2, 9), (8, 2, 2), "slice stop 9 is past the input's 8 channels"),
        (slice_op(-1, 2), (8, 2, 2), "slice start must be a whole number of at least 0, got -1"),
        (shuffle_op(3), (8, 2, 2), "channel_shuffle groups 3 does not divide the 8 input channels"),
        (shuffle_op(0), (8, 2, 2), "channel_shuffle groups must be a positive integer, got 0"),
        (shuffle_op(2), (8,), "channel_shuffle needs a (channels, height, width) input, got shape 8"),
    ],
)
def test_refusals(op: Any, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ShapeError) as err:
        op.output_shape([shape])
    assert str(err.value) == message


# -- in a spec ---------------------------------------------------------------------------------------

HEAD = "name: net\ninput: {channels: 8, size: 4}\nlayers:\n"


SPEC_REFUSALS = [
    ("{op: slice, name: s, start: 4, stop: in_channels // 2}", "slice start 4 must be less than its stop 4"),
    ("{op: slice, name: s, start: 0, stop: in_channels + 1}", "slice stop 9 is past the input's 8 channels"),
    ("{op: slice, name: s, start: -1, stop: 2}", "start = -1 is -1 here; it must be at least 0"),
    (
        "{op: slice, name: s, start: in_channels / 3, stop: 8}",
        "start = in_channels / 3 is 2.66667 here, not a whole number",
    ),
    ("{op: slice, name: s, start: 0}", "slice needs stop"),
    ("{op: channel_shuffle, name: s, groups: 3}", "channel_shuffle groups 3 does not divide the 8 input channels"),
    ("{op: channel_shuffle, name: s, groups: 0}", "groups = 0 is 0 here; it must be at least 1"),
]


@pytest.mark.parametrize(("layer", "message"), SPEC_REFUSALS)
def test_spec_refusals_name_the_layer(tmp_path: Path, layer: str, message: str) -> None:
    path = write(tmp_path, HEAD + f"  - {layer}\n")
    with pytest.raises(SpecError) as err:
        load_model(path).costs()
    assert str(err.value) == f"{path}:4: layer 's': {message}"


def test_start_and_stop_are_positions_not_widths(tmp_path: Path) -> None:
    """Under a width rule the conv's `out: 16` is scaled; a slice's bounds never are (`stop: 6` stays 6,
    and `in_channels` is already the scaled width)."""
    path = write(
        tmp_path,
        """\
name: net
symbols:
  alpha: {default: 1.0, domain: "> 0", description: width multiplier}
width: {rule: floor, multiplier: alpha}
input: {channels: 3, size: 4}
layers:
  - {op: conv2d, name: conv, out: 16, k: 1}
  - {op: slice, name: fixed, start: 2, stop: 6, from: conv}
  - {op: slice, name: half, start: in_channels // 2, stop: in_channels, from: conv}
""",
    )
    model = load_model(path)
    for alpha, width in (("1", 16), ("0.5", 8)):
        shapes = {layer.name: layer.output_shape for layer in model.costs(model.point(alpha=alpha)).layers}
        assert shapes == {"conv": (width, 4, 4), "fixed": (4, 4, 4), "half": (width // 2, 4, 4)}


# -- kernels ---------------------------------------------------------------------------------------


def test_slice_kernel_is_numpys_slice_as_a_new_array() -> None:
    x = floats(2, 6, 3, 4)
    for start, stop in ((0, 3), (3, 6), (0, 6), (2, 3)):
        y, macs = slice_op(start, stop).kernel([x], {})
        np.testing.assert_array_equal(y, x[:, start:stop])
        assert macs == 0 and y.flags.c_contiguous and not np.shares_memory(x, y)
    channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y, _ = slice_op(1, 4).kernel([channels_last], {})
    np.testing.assert_array_equal(y, x[:, 1:4])
    assert y.flags.c_contiguous


def test_shuffle_of_arange_is_the_known_permutation() -> None:
    x = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1)
    for groups, order in ((2, [0, 3, 1, 4, 2, 5]), (3, [0, 2, 4, 1, 3, 5]), (1, list(range(6))), (6, list(range(6)))):
        y, macs = shuffle_op(groups).kernel([x], {})
        assert y.reshape(-1).tolist() == order and macs == 0
        assert y.flags.c_contiguous and not np.shares_memory(x, y)


def test_shuffle_equals_numpy_and_g_then_c_over_g_is_the_identity() -> None:
    x = floats(2, 12, 3, 5)
    for groups in (1, 2, 3, 4, 6, 12):
        y, _ = shuffle_op(groups).kernel([x], {})
        n, c, h, w = x.shape
        expected = x.reshape(n, groups, c // groups, h, w).swapaxes(1, 2).reshape(n, c, h, w)
        np.testing.assert_array_equal(y, expected)
        back, _ = shuffle_op(c // groups).kernel([y], {})
        np.testing.assert_array_equal(back, x)
    channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(shuffle_op(3).kernel([channels_last], {})[0], shuffle_op(3).kernel([x], {})[0])


def test_an_in_place_activation_after_a_slice_leaves_the_input_alone(tmp_path: Path) -> None:
    """relu writes over its input when it is the only reader; the slice it reads must not be the input
    the residual adds back."""
    path = write(
        tmp_path,
        """\
name: net
input: {channels: 4, size: 3}
layers:
  - {op: conv2d, name: conv, out: 4, k: 1}
  - residual:
      - {op: slice, name: all, start: 0, stop: in_channels}
      - {op: relu, name: relu}
""",
    )
    model = load_model(path)
    network = model.network(model.default_point())
    weights = executor.seeded_weights(network)
    x = executor.seeded_input(network, batch=1)
    y, _ = executor.forward(network, weights, x)
    conv = np.einsum("oc,nchw->nohw", weights["conv"]["weight"][:, :, 0, 0], x) + weights["conv"]["bias"].reshape(
        1, -1, 1, 1
    )
    np.testing.assert_allclose(y, np.maximum(conv, 0) + conv, rtol=1e-5, atol=1e-5)


# -- a ShuffleNet v2 unit end to end ----------------------------------------------------------------------

UNIT = """\
name: shuffle_unit
title: A ShuffleNet v2 stride-1 unit
symbols:
  c: {default: 8, domain: "integer >= 1", description: half the stem's width}
input: {channels: 3, size: 8}
layers:
  - {op: conv2d, name: stem, out: 2 * c, k: 3, pad: 1, bias: false}
  - parallel:
      - [{op: slice, name: keep, start: 0, stop: in_channels // 2}]
      - - {op: slice, name: take, start: in_channels // 2, stop: in_channels}
        - {op: conv2d, name: pw1, out: in_channels, k: 1, bias: false}
        - {op: batchnorm, name: bn1}
        - {op: relu, name: relu1}
        - {op: conv2d, name: dw, out: in_channels, k: 3, pad: 1, groups: in, bias: false}
        - {op: batchnorm, name: bn2}
        - {op: conv2d, name: pw2, out: in_channels, k: 1, bias: false}
        - {op: batchnorm, name: bn3}
        - {op: relu, name: relu3}
    merge: concat
    name: cat
  - {op: channel_shuffle, name: shuffle, groups: 2}
"""


def test_the_unit_verifies_and_counts_by_hand(tmp_path: Path) -> None:
    path = write(tmp_path, UNIT)
    result = CliRunner().invoke(main, ["verify", str(path)])
    assert result.exit_code == 0, result.output
    assert "shapes, params and MACs agree" in result.output
    costs = load_model(path).costs()
    shapes = {layer.name: (layer.op, layer.output_shape) for layer in costs.layers}
    assert shapes["keep"] == shapes["take"] == ("slice", (8, 8, 8))
    assert shapes["shuffle"] == ("channel_shuffle", (16, 8, 8))
    # stem 3->16 3x3, pw 8->8, dw 3x3 on 8, pw 8->8 over 8x8 pixels; 3 batch norms of 8 (gamma, beta)
    assert costs.macs == 64 * (16 * 3 * 9 + 8 * 8 + 8 * 9 + 8 * 8)
    assert costs.params == 16 * 3 * 9 + 8 * 8 + 8 * 9 + 8 * 8 + 3 * 2 * 8


def test_an_odd_width_splits_into_unequal_halves_and_a_shuffle_must_divide_it(tmp_path: Path) -> None:
    odd = UNIT.replace("out: 2 * c", "out: 2 * c + 1")  # 17 channels at c = 8
    with pytest.raises(SpecError) as err:
        load_model(write(tmp_path, odd)).costs()
    assert "layer 'shuffle': channel_shuffle groups 2 does not divide the 17 input channels" in str(err.value)
    path = write(tmp_path, odd.replace("groups: 2", "groups: 17"), "odd.yaml")
    result = CliRunner().invoke(main, ["verify", str(path)])
    assert result.exit_code == 0, result.output
    shapes = {layer.name: layer.output_shape for layer in load_model(path).costs().layers}
    assert (shapes["keep"], shapes["take"], shapes["cat"]) == ((8, 8, 8), (9, 8, 8), (17, 8, 8))
    result = CliRunner().invoke(main, ["verify", str(path), "--set", "c=5"])  # 11 channels
    assert result.exit_code == 2 and "groups 17 does not divide the 11 input channels" in result.output


def test_the_closed_forms_hold_the_halves(tmp_path: Path) -> None:
    unshuffled = UNIT.replace("out: 2 * c", "out: c").replace(
        "  - {op: channel_shuffle, name: shuffle, groups: 2}\n", ""
    )
    model = load_model(write(tmp_path, unshuffled))
    closed = model.symbolic_costs()
    for c in (2, 3, 7, 8, 16):
        point = model.point(values={"c": c})
        values = model.substitution(point)
        costs = model.costs(point)
        assert sympy.sympify(closed.macs).xreplace(values) == costs.macs
        assert sympy.sympify(closed.params).xreplace(values) == costs.params
        assert costs.layers[1].output_shape[0] == c // 2  # keep
        assert costs.layers[2].output_shape[0] == c - c // 2  # take


onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_builders import one_input_model  # noqa: E402


def test_the_unit_exports_runs_and_imports_with_the_same_counts(tmp_path: Path) -> None:
    path = write(tmp_path, UNIT)
    exported = tmp_path / "unit.onnx"
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(path), "-o", str(exported)])
    assert result.exit_code == 0, result.output
    onnx.checker.check_model(str(exported), full_check=True)
    nodes = [(n.op_type, n.name) for n in onnx.load(str(exported)).graph.node]
    assert ("Slice", "keep") in nodes and ("Slice", "take") in nodes
    assert nodes[-3:] == [("Reshape", "shuffle/group"), ("Transpose", "shuffle"), ("Reshape", "shuffle/ungroup")]
    # report on the file: the same params and MACs
    pick = ('"params":', '"macs":')
    reports = [runner.invoke(main, ["report", str(p), "--format", "json"]) for p in (path, exported)]
    assert all(r.exit_code == 0 for r in reports), reports[0].output + reports[1].output
    lines = [[line for line in r.output.splitlines() if line.strip().startswith(pick)][:2] for r in reports]
    assert lines[0] == lines[1] and len(lines[0]) == 2
    # layer by layer, under the same names
    model, imported = load_model(path), load_model(exported)
    ours, theirs = model.costs(), imported.costs()
    assert [(x.name, x.op, x.output_shape, x.params, x.macs) for x in theirs.layers] == [
        (x.name, x.op, x.output_shape, x.params, x.macs) for x in ours.layers
    ]
    assert imported.costs(counting="keras").params == model.costs(counting="keras").params
    # onnxruntime computes what the executor does
    network = model.network(model.default_point())
    weights = executor.seeded_weights(network, seed=0)
    x = executor.seeded_input(network, batch=2, seed=1)
    expected, _ = executor.forward(network, weights, x)
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x})
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()))


def test_a_folded_export_of_the_unit_runs_as_the_executor(tmp_path: Path) -> None:
    path = write(tmp_path, UNIT)
    exported = tmp_path / "folded.onnx"
    result = CliRunner().invoke(main, ["export", str(path), "--fold-bn", "-o", str(exported)])
    assert result.exit_code == 0, result.output
    model = load_model(path)
    network = model.network(model.default_point())
    x = executor.seeded_input(network, batch=1, seed=2)
    expected, _ = executor.forward(network, executor.seeded_weights(network, seed=0), x)
    (got,) = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))
    assert load_model(exported).costs().params == model.costs(counting="folded").params


# -- ONNX files as exporters write them ---------------------------------------------------------------


def save(path: Path, nodes: list, inits: dict[str, np.ndarray], shape: tuple = (2, 8, 4, 4), opset: int = 17) -> str:
    """A one-input model whose output is 'y' (a batch of 2 unless PyTorch's Reshapes fix it at 1)."""
    return one_input_model(path, nodes, inits, shape, opset)


def ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def layers(path: str) -> list[tuple[str, str, dict[str, Any], tuple[int, ...]]]:
    """(name, op, attributes other than their defaults, output shape) of each imported layer."""
    model = load_model(path)
    network = model.network(model.default_point())
    return [
        (
            node.name,
            node.op.op_name,
            {k: v for k, v in vars(node.op).items() if v != node.op.defaults()[k]},
            tuple(node.output_shape),
        )
        for node in network.nodes
    ]


def runs_as_onnxruntime(path: str, tmp_path: Path, shape: tuple = (2, 8, 4, 4)) -> None:
    x = floats(*shape)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(main, ["run", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    (want,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5, atol=1e-5)


def test_split_with_sizes_as_an_input(tmp_path: Path) -> None:
    """opset 13: torch.split(x, [3, 5], dim=1) as PyTorch exports it."""
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="/Split", axis=1),
        helper.make_node("Relu", ["b"], ["rb"], name="/Relu"),
        helper.make_node("Concat", ["rb", "a"], ["y"], name="/Concat", axis=1),
    ]
    path = save(tmp_path / "split13.onnx", nodes, {"sizes": ints(3, 5)}, opset=13)
    assert layers(path) == [
        ("/Split:0", "slice", {"start": 0, "stop": 3}, (3, 4, 4)),
        ("/Split:1", "slice", {"start": 3, "stop": 8}, (5, 4, 4)),
        ("/Relu", "relu", {}, (5, 4, 4)),
        ("/Concat", "concat", {}, (8, 4, 4)),
    ]
    costs = load_model(path).costs()
    assert (costs.params, costs.macs) == (0, 0)
    runs_as_onnxruntime(path, tmp_path)


def test_split_into_num_outputs(tmp_path: Path) -> None:
    """opset 18: torch.chunk(x, 3, dim=1) of 8 channels: 3, 3 and the rest, 2."""
    nodes = [
        helper.make_node("Split", ["x"], ["a", "b", "c"], name="chunk", axis=-3, num_outputs=3),
        helper.make_node("Concat", ["c", "a", "b"], ["y"], name="cat", axis=1),
    ]
    path = save(tmp_path / "split18.onnx", nodes, {}, opset=18)
    assert [(name, attrs, shape) for name, _, attrs, shape in layers(path)] == [
        ("chunk:0", {"start": 0, "stop": 3}, (3, 4, 4)),
        ("chunk:1", {"start": 3, "stop": 6}, (3, 4, 4)),
        ("chunk:2", {"start": 6, "stop": 8}, (2, 4, 4)),
        ("cat", {}, (8, 4, 4)),
    ]
    runs_as_onnxruntime(path, tmp_path)


def test_split_into_equal_parts_and_a_layer_name_already_taken(tmp_path: Path) -> None:
    """opset 13 without sizes: equal parts. A node already named like a part's layer keeps its name;
    the part's layer is named apart."""
    nodes = [
        helper.make_node("Split", ["x"], ["a", "b"], name="s", axis=1),
        helper.make_node("Relu", ["a"], ["ra"], name="s:0"),
        helper.make_node("Add", ["ra", "b"], ["y"], name="add"),
    ]
    path = save(tmp_path / "equal.onnx", nodes, {}, opset=13)
    assert [(name, attrs, shape) for name, _, attrs, shape in layers(path)] == [
        ("s:0_2", {"start": 0, "stop": 4}, (4, 4, 4)),
        ("s:1", {"start": 4, "stop": 8}, (4, 4, 4)),
        ("s:0", {}, (4, 4, 4)),
        ("add", {}, (4, 4, 4)),
    ]
    runs_as_onnxruntime(path, tmp_path)


def test_slice_with_clamped_and_negative_bounds(tmp_path: Path) -> None:
    """x[:, 2:] exports its end as INT64_MAX (clamped to C); x[:, -3:-1] counts from the end."""
    big = np.iinfo(np.int64).max
    nodes = [
        helper.make_node("Slice", ["x", "s0", "e0", "ax"], ["a"], name="/Slice"),
        helper.make_node("Slice", ["x", "s1", "e1", "ax", "one"], ["b"], name="/Slice_1"),
        helper.make_node("Concat", ["a", "b"], ["y"], name="/Concat", axis=1),
    ]
    inits = {"s0": ints(2), "e0": ints(big), "ax": ints(1), "s1": ints(-3), "e1": ints(-1), "one": ints(1)}
    path = save(tmp_path / "slice.onnx", nodes, inits)
    assert [(name, op, attrs) for name, op, attrs, _ in layers(path)] == [
        ("/Slice", "slice", {"start": 2, "stop": 8}),
        ("/Slice_1", "slice", {"start": 5, "stop": 7}),
        ("/Concat", "concat", {}),
    ]
    runs_as_onnxruntime(path, tmp_path)


def torchvision_shuffle(x: str, out: str, groups: int, c: int, side: int, prefix: str = "") -> tuple[list, dict]:
    """torchvision's channel_shuffle as PyTorch exports it: view, transpose(1, 2), view."""
    nodes = [
        helper.make_node("Reshape", [x, f"{prefix}grouped"], [f"{prefix}r"], name=f"{prefix}/Reshape"),
        helper.make_node("Transpose", [f"{prefix}r"], [f"{prefix}t"], name=f"{prefix}/Transpose", perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", [f"{prefix}t", f"{prefix}back"], [out], name=f"{prefix}/Reshape_1"),
    ]
    inits = {f"{prefix}grouped": ints(1, groups, c // groups, side, side), f"{prefix}back": ints(1, -1, side, side)}
    return nodes, inits


def test_slices_along_other_axes_and_with_steps(tmp_path: Path) -> None:
    """x[:, :, 1:3] and x[..., 0::2, 1::2] (Swin's patch merging: one node, two axes, one layer each)."""
    nodes = [
        helper.make_node("Slice", ["x", "s", "e", "a"], ["rows"], name="/Slice"),
        helper.make_node("Slice", ["x", "s2", "e2", "a2", "st"], ["grid"], name="/Slice_1"),
        helper.make_node("Reshape", ["rows", "flat"], ["r"], name="/Reshape"),
        helper.make_node("Reshape", ["grid", "flat"], ["g"], name="/Reshape_1"),
        helper.make_node("Concat", ["r", "g"], ["y"], name="/Concat", axis=1),
    ]
    inits = {
        "s": ints(1),
        "e": ints(3),
        "a": ints(2),
        "s2": ints(0, 1),
        "e2": ints(4, 4),
        "a2": ints(2, 3),
        "st": ints(2, 2),
        "flat": ints(1, -1),
    }
    path = save(tmp_path / "slices.onnx", nodes, inits, shape=(1, 8, 4, 4))
    assert layers(path)[:3] == [
        ("/Slice", "slice", {"start": 1, "stop": 3, "axis": 1}, (8, 2, 4)),
        ("/Slice_1/axis1", "slice", {"start": 0, "stop": 4, "axis": 1, "step": 2}, (8, 2, 4)),
        ("/Slice_1", "slice", {"start": 1, "stop": 4, "axis": 2, "step": 2}, (8, 2, 2)),
    ]
    runs_as_onnxruntime(path, tmp_path, shape=(1, 8, 4, 4))


def test_torchvisions_channel_shuffle_imports_as_one_layer(tmp_path: Path) -> None:
    nodes, inits = torchvision_shuffle("c", "s", 4, 8, 4, "/stage2")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/conv"),
        *nodes,
        helper.make_node("Relu", ["s"], ["y"], name="/relu"),
    ]
    path = save(tmp_path / "shuffle.onnx", nodes, {"w": floats(8, 8, 1, 1), **inits}, shape=(1, 8, 4, 4))
    assert [(name, op, attrs) for name, op, attrs, _ in layers(path)] == [
        ("/conv", "conv2d", {"out": 8, "k": 1, "bias": False}),
        ("/stage2/Transpose", "channel_shuffle", {"groups": 4}),
        ("/relu", "relu", {}),
    ]
    runs_as_onnxruntime(path, tmp_path, shape=(1, 8, 4, 4))


def test_a_shuffle_that_ends_the_graph(tmp_path: Path) -> None:
    nodes, inits = torchvision_shuffle("x", "y", 2, 8, 4)
    path = save(tmp_path / "last.onnx", nodes, inits, shape=(1, 8, 4, 4))
    assert [(name, op, attrs) for name, op, attrs, _ in layers(path)] == [
        ("/Transpose", "channel_shuffle", {"groups": 2})
    ]
    runs_as_onnxruntime(path, tmp_path, shape=(1, 8, 4, 4))


@pytest.mark.parametrize(
    ("nodes", "inits", "opset", "message"),
    [
        (
            [helper.make_node("Slice", ["x", "s", "e"], ["y"], name="/Slice")],
            {"s": ints(0, 0), "e": ints(1, 4)},
            17,
            "layer '/Slice': Slice along the batch axis (axis 0) is not supported",
        ),
        (
            [helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"], name="/Slice")],
            {"s": ints(8), "e": ints(0), "a": ints(1), "st": ints(-1)},
            17,
            "layer '/Slice': Slice with steps [-1] is not supported (only positive steps)",
        ),
        (
            [helper.make_node("Split", ["x"], ["a", "y"], name="/Split", axis=0)],
            {},
            13,
            "layer '/Split': Split along the batch axis (axis 0) is not supported",
        ),
        (
            [helper.make_node("Split", ["x"], ["a", "b", "y"], name="/Split", axis=1)],
            {},
            13,
            "layer '/Split': Split of 8 positions of axis 1 into 3 equal parts is not possible",
        ),
    ],
    ids=["slice-batch", "slice-backwards", "split-batch", "split-unequal"],
)
def test_what_is_not_a_channel_op_is_refused_naming_the_node(
    tmp_path: Path, nodes: list, inits: dict, opset: int, message: str
) -> None:
    path = save(tmp_path / "bad.onnx", nodes, inits, opset=opset)
    with pytest.raises(SpecError) as err:
        load_model(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("nodes", "inits", "expected"),
    [
        (
            [helper.make_node("Transpose", ["x"], ["y"], name="/Transpose", perm=[0, 1, 3, 2])],
            {},
            [("/Transpose", "transpose", {"perm": (0, 2, 1)}, (8, 4, 4))],
        ),
        (
            [
                helper.make_node("Reshape", ["x", "g"], ["r"], name="/Reshape"),
                helper.make_node("Transpose", ["r"], ["t"], name="/Transpose", perm=[0, 2, 1, 4, 3]),
                helper.make_node("Reshape", ["t", "b"], ["y"], name="/Reshape_1"),
            ],
            {"g": ints(1, 2, 4, 4, 4), "b": ints(1, 8, 4, 4)},
            [
                ("/Reshape", "reshape", {"shape": (2, 4, 4, 4)}, (2, 4, 4, 4)),
                ("/Transpose", "transpose", {"perm": (1, 0, 3, 2)}, (4, 2, 4, 4)),
                ("/Reshape_1", "reshape", {"shape": (8, 4, 4)}, (8, 4, 4)),
            ],
        ),
    ],
    ids=["transpose", "not-a-shuffle"],
)
def test_what_is_not_a_shuffle_is_read_as_reshapes_and_transposes(
    tmp_path: Path, nodes: list, inits: dict, expected: list
) -> None:
    """Each image's axes moved as the file moves them: the same output as onnxruntime's."""
    path = save(tmp_path / "moves.onnx", nodes, inits, shape=(1, 8, 4, 4))
    assert layers(path) == expected
    runs_as_onnxruntime(path, tmp_path, shape=(1, 8, 4, 4))


def test_a_shuffle_read_twice_is_not_a_shuffle(tmp_path: Path) -> None:
    """The grouped tensor also read elsewhere: the Reshape to rank 5 is a reshape layer, the rest
    transposes and reshapes, and the network runs as onnxruntime."""
    nodes, inits = torchvision_shuffle("x", "s", 2, 8, 4)
    nodes.append(helper.make_node("Add", ["s", "x"], ["y"], name="/Add"))
    nodes.append(helper.make_node("Relu", ["r"], ["z"], name="/Relu"))
    graph = helper.make_graph(
        nodes,
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 4])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("y", "z")],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    path = tmp_path / "twice.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert [op for _, op, _, _ in layers(str(path))] == ["reshape", "transpose", "reshape", "add", "relu"]
