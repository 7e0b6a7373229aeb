"""ONNX export and import: onnxruntime runs the export as the executor does, and import counts exactly.

Claims:
- every built-in model exports to a valid opset-17 ONNX file whose output onnxruntime computes as the
  NumPy executor does (1e-4 relative), and which imports back with identical parameters and MACs,
  layer by layer;
- with batch norms folded, the import has exactly ``--counting folded``'s parameters;
- torchvision-style files (tests/data/, built by make_onnx_fixtures.py) import with the counts worked
  out by hand below;
- what costmodel cannot count is a one-line error naming the operator and the node.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from click.testing import CliRunner  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_builders import one_input_model  # noqa: E402

from costmodel import executor, intmath, onnx_export, onnx_import  # noqa: E402
from costmodel.cli import main  # noqa: E402
from costmodel.errors import SpecError  # noqa: E402
from costmodel.loading import load_model  # noqa: E402
from costmodel.resources import builtin_names  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
RELATIVE = 1e-4

# (model, point) pairs: every built-in at a small side, and points where layers vanish, widths are
# rounded hard, 'same' padding is symmetric (odd sides) rather than one pixel after, and the
# SqueezeNets at their smallest sides.
ALEXNET_SIDE = 223  # the smallest side at which its adaptive pool (to 6x6) is a plain AveragePool
POINTS = [(name, {"resolution": ALEXNET_SIDE if name == "alexnet" else 64}) for name in builtin_names()] + [
    ("mobilenet_v3_small", {"alpha": "0.35", "resolution": 33}),
    ("mobilenet_v1", {"alpha": "0.25", "resolution": 65}),
    ("mobilenet_v2", {"alpha": "0.35", "resolution": 47}),
    ("squeezenet1_1", {"resolution": 17}),  # its smallest side: the last ceil-mode pool sees 2×2 under a 3×3 window
    ("squeezenet1_0", {"resolution": 21}),
]
POINT_IDS = [f"{name}-" + "-".join(f"{k}{v}" for k, v in point.items()) for name, point in POINTS]
# AlexNet's 200 MB of weights take seconds to export and run: a slow test
INDEXES = [pytest.param(i, marks=pytest.mark.slow) if name == "alexnet" else i for i, (name, _) in enumerate(POINTS)]


def session(path_or_bytes):
    return ort.InferenceSession(path_or_bytes, providers=["CPUExecutionProvider"])


def weights_for(network):
    return executor.seeded_weights(network, seed=0)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Export each (model, point, fold) once for the tests of this module."""
    cache = {}
    folder = tmp_path_factory.mktemp("onnx")

    def get(index: int, fold_bn: bool = False):
        key = (index, fold_bn)
        if key not in cache:
            name, values = POINTS[index]
            model = load_model(name)
            point = model.point(**values)
            path = folder / f"{POINT_IDS[index]}{'-folded' if fold_bn else ''}.onnx"
            weights = weights_for(model.network(point))
            onnx_export.export_model(model, point, path, weights, fold_bn=fold_bn)
            cache[key] = (model, point, path, weights)
        return cache[key]

    return get


@pytest.mark.parametrize("index", INDEXES, ids=POINT_IDS)
def test_export_is_valid_and_runs_like_the_executor(exports, index):
    model, point, path, weights = exports(index)
    network = model.network(point)
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain == ""] == [17]
    present = [n.name for n in network.nodes if n.present is True]
    assert set(present) <= {n.name for n in proto.graph.node}
    expected = {f"{layer}/{array}" for layer, arrays in weights.items() for array in arrays}
    initializers = {i.name: i for i in proto.graph.initializer}
    assert expected <= set(initializers)
    for key in sorted(expected)[:3]:
        layer, array = key.split("/")
        np.testing.assert_array_equal(numpy_helper.to_array(initializers[key]), weights[layer][array])
    (image,) = proto.graph.input
    assert image.name == "input"
    dims = image.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, point.resolution, point.resolution]

    x = executor.seeded_input(network, batch=2, seed=1)
    (ours,) = session(str(path)).run(None, {"input": x})
    theirs, _ = executor.forward(network, weights, x)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= RELATIVE * np.max(np.abs(theirs))


@pytest.mark.parametrize("index", INDEXES, ids=POINT_IDS)
def test_export_then_import_counts_the_same(exports, index):
    model, point, path, seeded = exports(index)
    imported = load_model(str(path))
    ours, theirs = model.costs(point, "keras"), imported.costs(counting="keras")
    assert (theirs.params, theirs.macs) == (ours.params, ours.macs)
    assert theirs.params_by_kind == ours.params_by_kind
    present = {layer.name: (layer.macs, layer.params, layer.output_shape) for layer in ours.layers if layer.present}
    assert {layer.name: (layer.macs, layer.params, layer.output_shape) for layer in theirs.layers} == present
    assert model.costs(point).params == imported.costs().params  # torchvision's count too
    assert imported.default_point().resolution == point.resolution  # a fixed input still has a side
    assert imported.costs().by_group() == model.costs(point).by_group()
    # the weights come back too, bit for bit
    weights = onnx_import.import_weights(path)
    assert {k: sorted(v) for k, v in weights.items()} == {k: sorted(v) for k, v in seeded.items()}
    for layer, arrays in seeded.items():
        for name, array in arrays.items():
            np.testing.assert_array_equal(weights[layer][name], array)


@pytest.mark.parametrize(
    "index",
    [i for i, (name, _) in enumerate(POINTS) if name.startswith("mobilenet")],
    ids=[p for p in POINT_IDS if p.startswith("mobilenet")],
)
def test_folded_export_has_the_folded_count(exports, index):
    model, point, path, seeded = exports(index, fold_bn=True)
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path))
    assert "BatchNormalization" not in {n.op_type for n in proto.graph.node}
    imported = load_model(str(path))
    folded = model.costs(point, "folded")
    assert imported.costs().params == folded.params
    assert imported.costs(counting="folded").params == folded.params
    assert imported.costs().macs == folded.macs
    # folding keeps the function: the same output as the executor's unfolded network
    network = model.network(point)
    x = executor.seeded_input(network, batch=1, seed=2)
    (ours,) = session(str(path)).run(None, {"input": x})
    theirs, _ = executor.forward(network, seeded, x)
    assert np.max(np.abs(ours - theirs)) <= RELATIVE * np.max(np.abs(theirs))


def test_same_padding_is_tensorflows():
    assert intmath.same_pads(64, 3, 2) == (0, 1)  # 32 outputs need 65 rows: the extra one after
    assert intmath.same_pads(65, 3, 2) == (1, 1)
    assert intmath.same_pads(7, 5, 1) == (2, 2)
    assert intmath.same_pads(8, 1, 2) == (0, 0)


def test_absent_layers_are_skipped_and_their_consumers_read_through():
    model = load_model("mobilenet_v3_small")
    point = model.point(alpha="0.35", resolution=33)
    network = model.network(point)
    absent = [n.name for n in network.nodes if n.present is False]
    assert absent  # residual adds and expansion convs that vanish at this point
    proto = onnx_export.to_onnx(network, weights_for(network))
    names = {n.name for n in proto.graph.node}
    assert not names & set(absent)
    produced = {o for n in proto.graph.node for o in n.output} | {"input"}
    assert all(
        i in produced or i in {t.name for t in proto.graph.initializer} for n in proto.graph.node for i in n.input
    )


# -- torchvision-style files ------------------------------------------------------------------------


def test_fixtures_are_what_the_script_builds():
    from make_onnx_fixtures import FIXTURES

    for name, make in FIXTURES.items():
        stale = f"tests/data/{name} is stale: run python tests/make_onnx_fixtures.py"
        assert onnx.load(str(DATA / name)) == make(), stale


@pytest.mark.parametrize("name", ["mobilenet_v2_mini", "squeezenet_mini", "ops_mini"])
def test_fixtures_run_in_onnxruntime(name):
    sess = session(str(DATA / f"{name}.onnx"))
    (image,) = sess.get_inputs()
    shape = [2 if isinstance(d, str) else d for d in image.shape]
    (out,) = sess.run(None, {image.name: np.ones(shape, dtype=np.float32)})
    assert out.shape[:2] == (2, 10)


@pytest.mark.parametrize("name", ["mobilenet_v2_mini", "squeezenet_mini", "ops_mini"])
def test_imported_network_computes_what_the_file_does(name):
    """Import reads the file faithfully: the executor, on the imported graph and the file's own
    weights, gives onnxruntime's output for the original file."""
    path = str(DATA / f"{name}.onnx")
    network = load_model(path).network(load_model(path).default_point())
    weights = onnx_import.import_weights(path)
    executor.check_weights(network, weights)
    x = executor.seeded_input(network, batch=2, seed=3)
    sess = session(path)
    (expected,) = sess.run(None, {sess.get_inputs()[0].name: x})
    got, _ = executor.forward(network, weights, x)
    assert np.max(np.abs(got - expected)) <= RELATIVE * np.max(np.abs(expected))


def bn(c):
    """A batch norm's arrays: gamma and beta (torchvision counts them), running mean and variance."""
    return {"affine": 2 * c, "stats": 2 * c}


def test_torchvision_style_mobilenet_v2_counts():
    model = load_model(str(DATA / "mobilenet_v2_mini.onnx"))
    # (params, MACs) of each conv and the classifier; MACs = output pixels x out x in/groups x k x k
    convs = {
        "stem 3x3/2 3->16": (3 * 16 * 9, 16 * 16 * 16 * 3 * 9),
        "dw 3x3 16": (16 * 9, 16 * 16 * 16 * 9),
        "pw 16->8": (16 * 8, 16 * 16 * 8 * 16),
        "expand 8->48": (8 * 48, 16 * 16 * 48 * 8),
        "dw 3x3/2 48": (48 * 9, 8 * 8 * 48 * 9),
        "project 48->12": (48 * 12, 8 * 8 * 12 * 48),
        "expand 12->72": (12 * 72, 8 * 8 * 72 * 12),
        "dw 3x3 72": (72 * 9, 8 * 8 * 72 * 9),
        "project 72->12": (72 * 12, 8 * 8 * 12 * 72),
        "head 12->32": (12 * 32, 8 * 8 * 32 * 12),
        "fc 32->10 + bias": (32 * 10 + 10, 32 * 10),
    }
    norms = [16, 16, 8, 48, 48, 12, 72, 72, 12, 32]
    costs = model.costs()
    assert costs.macs == sum(m for _, m in convs.values()) == 520_000
    assert costs.params == sum(p for p, _ in convs.values()) + sum(bn(c)["affine"] for c in norms)
    assert model.costs(counting="keras").params == costs.params + sum(bn(c)["stats"] for c in norms)
    assert model.costs(counting="paper").params == sum(p for p, _ in convs.values())
    layers = {layer.name: layer for layer in costs.layers}
    dw = layers["/features/features.2/features.2.conv/features.2.conv.1/features.2.conv.1.0/Conv"]
    assert (dw.label, dw.output_shape, dw.macs) == ("conv_dw3x3", (48, 8, 8), 27_648)
    assert layers["/features/features.3/Add"].op == "add"
    assert layers["/classifier/classifier.1/Gemm"].op == "linear"
    assert costs.by_group()["features.3"]["macs"] == sum(convs[k][1] for k in convs if "72" in k)


def test_torchvision_style_squeezenet_counts():
    model = load_model(str(DATA / "squeezenet_mini.onnx"))
    costs = model.costs()
    # 33 -> conv 3x3/2 -> 16 -> pool (ceil) -> 8 -> fire -> pool (ceil) -> 4 (floor would give 7 and 3)
    convs = {
        "conv 3->16": (3 * 16 * 9 + 16, 16 * 16 * 16 * 3 * 9),
        "squeeze 16->4": (16 * 4 + 4, 8 * 8 * 4 * 16),
        "expand1x1 4->8": (4 * 8 + 8, 8 * 8 * 8 * 4),
        "expand3x3 4->8": (4 * 8 * 9 + 8, 8 * 8 * 8 * 4 * 9),
        "classifier 16->10": (16 * 10 + 10, 4 * 4 * 10 * 16),
    }
    assert (costs.params, costs.macs) == (sum(p for p, _ in convs.values()), sum(m for _, m in convs.values()))
    assert (costs.params, costs.macs) == (1022, 137_728)
    layers = {layer.name: layer for layer in costs.layers}
    assert layers["/features/features.2/MaxPool"].output_shape == (16, 8, 8)
    assert layers["/features/features.3/Concat"].output_shape == (16, 8, 8)
    assert layers["/features/features.4/MaxPool"].output_shape == (16, 4, 4)
    assert model.costs(counting="keras").params == costs.params  # no batch norm


def test_other_operators_count():
    model = load_model(str(DATA / "ops_mini.onnx"))
    costs = model.costs()
    convs = {
        "stem 3x3/2 'same' 3->8": (3 * 8 * 9, 8 * 8 * 8 * 3 * 9),
        "se fc1 8->4 + bias": (8 * 4 + 4, 4 * 8),
        "se fc2 4->8 + bias": (4 * 8 + 8, 8 * 4),
        "MatMul + Add 128->10": (128 * 10 + 10, 128 * 10),
    }
    assert costs.macs == sum(m for _, m in convs.values())
    assert costs.params == sum(p for p, _ in convs.values()) + bn(8)["affine"]
    ops = {layer.name: layer.op for layer in costs.layers}
    assert ops == {
        "/stem/Conv": "conv2d",
        "/stem/BatchNormalization": "batchnorm",
        "/stem/HardSwish": "hard_swish",
        "/se/GlobalAveragePool": "global_avg_pool",
        "/se/se.fc1/Conv": "conv2d",
        "/se/Clip": "relu",
        "/se/se.fc2/Conv": "conv2d",
        "/se/HardSigmoid": "hard_sigmoid",
        "/se/Mul": "mul",
        "/pool/AveragePool": "avg_pool",
        "/pool/Identity": "dropout",
        "/head/fc/MatMul": "linear",  # the Reshape (a flatten) and the bias Add belong to it
        "/head/Sigmoid": "sigmoid",
        "/head/Softmax": "softmax",
    }


def test_report_on_an_onnx_file():
    path = str(DATA / "squeezenet_mini.onnx")
    result = CliRunner().invoke(main, ["report", path, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"params": 1022' in result.output and '"macs": 137728' in result.output
    side = onnx.load(path).graph.input[0].type.tensor_type.shape.dim[-1].dim_value
    assert json.loads(result.output)["resolution"] == side


# -- errors ----------------------------------------------------------------------------------------


def test_unsupported_operator_is_one_line_and_exit_2():
    path = str(DATA / "unsupported_lstm.onnx")
    result = CliRunner().invoke(main, ["report", path])
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {path}: layer 'lstm1': unsupported ONNX operator 'LSTM'\n"


def tiny(tmp_path, nodes, inits=(), shape=(1, 3, 8, 8), name="tiny.onnx", opset=17):
    """A one-input model from nodes whose last output is 'y'."""
    return one_input_model(tmp_path / name, nodes, inits, shape, opset)


W = {"w": np.zeros((4, 3, 3, 3), dtype=np.float32)}


@pytest.mark.parametrize(
    ("nodes", "inits", "shape", "message"),
    [
        (
            [helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], dilations=[2, 2])],
            {},
            (1, 3, 8, 8),
            "layer 'p': dilated MaxPool",
        ),
        (
            [helper.make_node("Conv", ["x", "w"], ["y"], name="c", auto_pad=b"SAME\xc8")],
            W,
            (1, 3, 8, 8),
            "layer 'c': Conv auto_pad 'SAME\ufffd' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID",
        ),
        (
            [helper.make_node("Conv", ["x", "w"], ["y"], name="c", strides=[1, 1, 1], pads=[0, 0, 1, 1])],
            W,
            (1, 3, 8, 8),
            "layer 'c': Conv strides must be 2 positive values, got [1, 1, 1]",
        ),
        (
            [helper.make_node("Relu", ["x"], ["y"], name="r")],
            {},
            (1, 3, 0, 0),
            "input 'x' is 3×0×0: an image has at least one channel and pixel",
        ),
        (
            [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")],
            {"lo": np.float32(-1), "hi": np.float32(1)},
            (1, 3, 8, 8),
            "layer 'clip': Clip to [-1.0, 1.0] is not supported",
        ),
        (
            [helper.make_node("Gather", ["x", "i"], ["y"], name="g", axis=1)],
            {"i": np.array([0, 2], dtype=np.int64)},
            (1, 3, 8, 8),
            "layer 'g': Gather of an activation at 2 indices: only one is supported",
        ),
        ([helper.make_node("Relu", ["x"], ["y"], name="relu")], {}, (1, 3, "H", 8), "has a symbolic height"),
        (
            [helper.make_node("Concat", ["x", "x"], ["y"], name="cat", axis=0)],
            {},
            (1, 3, 8, 8),
            "layer 'cat': Concat along the batch axis (axis 0) is not supported",
        ),
    ],
    ids=[
        "dilation",
        "auto-pad-not-utf8",
        "three-strides",
        "empty-input",
        "clip",
        "gather-indices",
        "symbolic-side",
        "concat-batch",
    ],
)
def test_import_errors_name_the_node(tmp_path, nodes, inits, shape, message):
    path = tiny(tmp_path, nodes, inits, shape)
    with pytest.raises(SpecError) as err:
        load_model(path)
    assert message in str(err.value)
    assert str(err.value).startswith(f"{path}: ")


def test_nameless_nodes_get_names(tmp_path):
    path = tiny(tmp_path, [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])])
    assert [layer.name for layer in load_model(path).costs().layers] == ["Relu_1", "Relu_2"]


def test_onnx_has_no_variants():
    result = CliRunner().invoke(main, ["report", str(DATA / "ops_mini.onnx"), "--variant", "keras"])
    assert result.exit_code == 2, result.output
    assert "no variants" in result.output


# -- the command ------------------------------------------------------------------------------------


def test_export_command_round_trip(tmp_path):
    out = tmp_path / "m.onnx"
    runner = CliRunner()
    args = ["mobilenet_v1", "--alpha", "0.25", "--res", "96", "--classes", "10"]
    result = runner.invoke(main, ["export", *args, "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    onnx.checker.check_model(str(out), full_check=True)
    model = load_model("mobilenet_v1")
    point = model.point(alpha="0.25", resolution=96, classes=10)
    seeded = executor.seeded_weights(model.network(point), seed=3)  # the numbers `costmodel run --seed 3` uses
    np.testing.assert_array_equal(onnx_import.import_weights(out)["fc"]["weight"], seeded["fc"]["weight"])
    ours = runner.invoke(main, ["report", str(out), "--format", "json"])
    theirs = runner.invoke(main, ["report", *args, "--format", "json"])
    assert ours.exit_code == 0 and theirs.exit_code == 0, ours.output + theirs.output
    pick = ('"params":', '"macs":')
    assert [line for line in ours.output.splitlines() if line.strip().startswith(pick)][:2] == [
        line for line in theirs.output.splitlines() if line.strip().startswith(pick)
    ][:2]
    folded = tmp_path / "f.onnx"
    result = runner.invoke(main, ["export", *args, "--fold-bn", "-o", str(folded)])
    assert result.exit_code == 0, result.output
    assert load_model(str(folded)).costs().params == model.costs(point, "folded").params


def test_export_without_the_onnx_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    result = CliRunner().invoke(main, ["export", "mobilenet", "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 2, result.output
    assert result.output == "error: costmodel export needs the onnx extra: pip install 'costmodel[onnx]'\n"


# -- an operator end to end: silu ---------------------------------------------------------------------

SILU_SPEC = """\
name: silu_net
input: {channels: 3, size: 12}
layers:
  - {op: conv2d, name: conv, out: 8, k: 3, stride: 2, pad: 1}
  - {op: batchnorm, name: bn}
  - {op: silu, name: act}
  - {op: global_avg_pool, name: pool}
  - {op: linear, name: fc, out: 5}
"""


def test_silu_exports_as_sigmoid_and_mul_and_imports_back_as_silu(tmp_path):
    spec = tmp_path / "silu_net.yaml"
    spec.write_text(SILU_SPEC, encoding="utf-8")
    model = load_model(spec)
    point = model.default_point()
    network = model.network(point)
    weights = weights_for(network)
    path = tmp_path / "silu_net.onnx"
    onnx_export.export_model(model, point, path, weights)
    types = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert types == ["Conv", "BatchNormalization", "Sigmoid", "Mul", "GlobalAveragePool", "Flatten", "Gemm"]
    x = executor.seeded_input(network, batch=2)
    expected, _ = executor.forward(network, weights, x)
    (got,) = session(str(path)).run(None, {"input": x})
    np.testing.assert_allclose(got, expected, rtol=0, atol=RELATIVE * float(np.abs(expected).max()))
    imported = load_model(path)
    ours, theirs = model.costs(point), imported.costs(imported.default_point())
    assert (theirs.params, theirs.macs, theirs.other_ops) == (ours.params, ours.macs, ours.other_ops)
    assert [(layer.name, layer.op) for layer in theirs.layers] == [(layer.name, layer.op) for layer in ours.layers]


def test_an_onnx_swish_imports_as_silu(tmp_path):
    weight = numpy_helper.from_array(np.linspace(-1, 1, 4 * 3, dtype=np.float32).reshape(4, 3, 1, 1), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv"), helper.make_node("Swish", ["y"], ["z"], name="act")],
        "swish",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 5, 5])],
        initializer=[weight],
    )
    path = tmp_path / "swish.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 24)]), str(path))
    model = load_model(path)
    costs = model.costs(model.default_point())
    assert [(layer.name, layer.op) for layer in costs.layers] == [("conv", "conv2d"), ("act", "silu")]
    assert costs.other_ops == 4 * (4 * 5 * 5)  # silu: 4 per element; the conv has no bias to add
    network = model.network(model.default_point())
    x = executor.seeded_input(network)
    y, _ = executor.forward(network, onnx_import.import_weights(path), x)
    (want,) = session(str(path)).run(None, {"x": x})
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
