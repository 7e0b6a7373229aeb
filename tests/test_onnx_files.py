"""ONNX files as exporters write them: their own weights, one-input merges, constant subgraphs, folded
batch norms and fixed batches. Every file is built here with ``onnx.helper``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from click.testing import CliRunner  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from onnx_builders import one_input_model  # noqa: E402

from costmodel.cli import main  # noqa: E402
from costmodel.errors import SpecError  # noqa: E402
from costmodel.loading import load_model  # noqa: E402
from costmodel.onnx_import import SMALL_CONSTANT  # noqa: E402

RNG = np.random.default_rng(7)


def save(
    path: Path,
    nodes: list,
    inits: dict[str, np.ndarray],
    shape: tuple = (1, 3, 8, 8),
    opset: int = 17,
) -> str:
    """A one-input model whose output is 'y'."""
    return one_input_model(path, nodes, inits, shape, opset)


def floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def classifier(path: Path, shape: tuple = (1, 3, 8, 8)) -> str:
    """conv (with bias, no batch norm: as an exporter folds it) -> relu -> global pool -> flatten -> gemm."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="/features/conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/features/relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="/pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="/flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="/classifier/fc", transB=1),
    ]
    inits = {"w": floats(6, 3, 3, 3), "b": floats(6), "fc_w": floats(5, 6), "fc_b": floats(5)}
    return save(path, nodes, inits, shape)


def onnxruntime_output(path: str, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


# -- run uses the file's weights -------------------------------------------------------------------


def test_run_on_a_file_uses_its_weights_and_says_so(tmp_path: Path) -> None:
    path = classifier(tmp_path / "net.onnx", shape=(2, 3, 8, 8))
    x = floats(2, 3, 8, 8)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(main, ["run", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    assert "weights: the file's initializers" in result.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), onnxruntime_output(path, x), rtol=1e-5, atol=1e-5)


def test_run_on_a_file_with_a_seed_uses_seeded_weights_and_says_so(tmp_path: Path) -> None:
    path = classifier(tmp_path / "net.onnx")
    x = floats(1, 3, 8, 8)
    np.save(tmp_path / "x.npy", x)
    args = ["run", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"), "--seed", "3"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "weights: seeded (seed 3)" in result.output
    assert not np.allclose(np.load(tmp_path / "y.npy"), onnxruntime_output(path, x), rtol=1e-3, atol=1e-3)


# -- one-input merges ------------------------------------------------------------------------------


def test_a_one_input_concat_is_read_and_counts_nothing(tmp_path: Path) -> None:
    """The legacy exporter's DenseNet holds Concat nodes of one input (valid ONNX: an identity)."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/block/conv"),
        helper.make_node("Concat", ["c"], ["y"], name="/features/denseblock1/denselayer1/Concat", axis=1),
    ]
    path = save(tmp_path / "cat.onnx", nodes, {"w": floats(4, 3, 3, 3)})
    costs = load_model(path).costs()
    names = [layer.name for layer in costs.layers]
    assert names == ["/block/conv", "/features/denseblock1/denselayer1/Concat"]
    assert costs.layers[-1].macs == 0 and costs.layers[-1].output_shape == (4, 6, 6)
    assert costs.macs == 4 * 3 * 9 * 36


def test_errors_from_the_generated_spec_name_the_node_and_no_line(tmp_path: Path) -> None:
    """A layer the spec language refuses is named by the file's node name, never by a line of the
    spec generated from it (the user has no such file)."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="/stem/relu"),
        helper.make_node("Sum", ["a"] * 65, ["y"], name="/odd/Sum"),  # valid ONNX: Sum takes any number
    ]
    path = save(tmp_path / "sum65.onnx", nodes, {})
    assert onnxruntime_output(path, floats(1, 3, 8, 8)).shape == (1, 3, 8, 8)  # onnxruntime runs it
    with pytest.raises(SpecError) as err:
        load_model(path)
    assert str(err.value) == f"{path}: layer '/odd/Sum': add takes 2 to 64 inputs, got 65"


def test_run_takes_weights_or_a_seed_not_both(tmp_path: Path) -> None:
    path = classifier(tmp_path / "net.onnx")
    np.save(tmp_path / "x.npy", floats(1, 3, 8, 8))
    np.savez(tmp_path / "w.npz", **{"/features/conv/weight": floats(6, 3, 3, 3)})
    args = ["run", path, "--input", str(tmp_path / "x.npy"), "--weights", str(tmp_path / "w.npz"), "--seed", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and result.output == "error: give --weights or --seed, not both\n"


# -- constant subgraphs ------------------------------------------------------------------------------


def test_a_weight_computed_from_constants_is_folded(tmp_path: Path) -> None:
    """The dynamo exporter without optimisation writes a conv's weight as Expand(w, Shape(w))."""
    nodes = [
        helper.make_node("Shape", ["w"], ["w_shape"], name="/conv/Shape"),
        helper.make_node("Expand", ["w", "w_shape"], ["w_full"], name="/conv/Expand"),
        helper.make_node("Conv", ["x", "w_full", "b"], ["c"], name="/conv/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="/relu"),
    ]
    path = save(tmp_path / "expand.onnx", nodes, {"w": floats(4, 3, 3, 3), "b": floats(4)})
    costs = load_model(path).costs()
    assert [layer.name for layer in costs.layers] == ["/conv/Conv", "/relu"]
    assert (costs.params, costs.macs) == (4 * 27 + 4, 4 * 27 * 64)
    x = floats(1, 3, 8, 8)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(main, ["run", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), onnxruntime_output(path, x), rtol=1e-5, atol=1e-5)


def test_a_bias_the_exporter_shares_through_an_identity_is_still_a_bias(tmp_path: Path) -> None:
    """The legacy exporter writes one initializer for equal ones (ConvNeXt's zero biases) and an Identity
    of it for the others: convnext_large at 193 refused its last MatMul's bias Add."""
    n = SMALL_CONSTANT + 1  # a bias too large to be computed before shape inference
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["p"], name="/pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="/flatten", axis=1),
        helper.make_node("Identity", ["shared"], ["b1"], name="Identity_7"),
        helper.make_node("MatMul", ["f", "w1"], ["m1"], name="/fc1/MatMul"),
        helper.make_node("Add", ["b1", "m1"], ["a1"], name="/fc1/Add"),
        helper.make_node("MatMul", ["a1", "w2"], ["m2"], name="/fc2/MatMul"),
        helper.make_node("Add", ["b2", "m2"], ["y"], name="/fc2/Add"),
    ]
    inits = {"w1": floats(3, n), "shared": floats(n), "w2": floats(n, 5), "b2": floats(5)}
    path = save(tmp_path / "shared.onnx", nodes, inits)
    costs = load_model(path).costs()
    assert [(layer.name, layer.op) for layer in costs.layers] == [
        ("/pool", "global_avg_pool"),
        ("/fc1/MatMul", "linear"),
        ("/fc2/MatMul", "linear"),
    ]
    assert (costs.params, costs.macs) == (3 * n + n + n * 5 + 5, 3 * n + n * 5)
    x = floats(1, 3, 8, 8)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(main, ["run", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    expected = onnxruntime_output(path, x)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_reduce_mean_axes_computed_from_constants(tmp_path: Path) -> None:
    """SqueezeNet's head as exported: ReduceMean (opset 18: axes an input) with its axes computed."""
    two, three = (
        helper.make_tensor("two", TensorProto.INT64, [1], [2]),
        helper.make_tensor("three", TensorProto.INT64, [1], [3]),
    )
    nodes = [
        helper.make_node("Constant", [], ["a2"], name="/c2", value=two),
        helper.make_node("Constant", [], ["a3"], name="/c3", value=three),
        helper.make_node("Concat", ["a2", "a3"], ["axes"], name="/axes", axis=0),
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], name="/pool/ReduceMean", keepdims=1),
        helper.make_node("Flatten", ["m"], ["y"], name="/flatten", axis=1),
    ]
    path = save(tmp_path / "mean.onnx", nodes, {}, opset=18)
    costs = load_model(path).costs()
    assert costs.layers[0].name == "/pool/ReduceMean" and costs.layers[0].output_shape == (3, 1, 1)


@pytest.mark.parametrize("then", ["Relu", "Gemm"])
def test_reduce_mean_without_keepdims_is_a_pool_and_a_flatten(tmp_path: Path, then: str) -> None:
    """``x.mean((2, 3))`` (timm's and Keras's heads): [N, C], whatever reads it next."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], name="/head/mean", axes=[2, 3], keepdims=0)]
    inits = {}
    if then == "Relu":
        nodes.append(helper.make_node("Relu", ["m"], ["y"], name="/head/relu"))
    else:
        nodes.append(helper.make_node("Gemm", ["m", "w", "b"], ["y"], name="/head/fc", transB=1))
        inits = {"w": floats(4, 3), "b": floats(4)}
    path = save(tmp_path / "mean.onnx", nodes, inits, opset=17)
    costs = load_model(path).costs()
    assert [(layer.name, layer.output_shape) for layer in costs.layers][:2] == [
        ("/head/mean", (3, 1, 1)),
        ("/head/mean/flatten", (3,)),
    ]
    x = floats(1, 3, 8, 8)  # the file's batch
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(main, ["run", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), onnxruntime_output(path, x), rtol=1e-5, atol=1e-5)


def test_an_operator_of_constants_the_importer_has_no_layer_for_is_computed(tmp_path: Path) -> None:
    """Constant subgraphs are evaluated whatever their operators (here Range and Cast)."""
    nodes = [
        helper.make_node(
            "Constant", [], ["start"], name="/s", value=helper.make_tensor("s", TensorProto.INT64, [], [2])
        ),
        helper.make_node(
            "Constant", [], ["limit"], name="/l", value=helper.make_tensor("l", TensorProto.INT64, [], [4])
        ),
        helper.make_node(
            "Constant", [], ["delta"], name="/d", value=helper.make_tensor("d", TensorProto.INT64, [], [1])
        ),
        helper.make_node("Range", ["start", "limit", "delta"], ["axes"], name="/range"),
        helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="/mean", keepdims=1),
    ]
    path = save(tmp_path / "range.onnx", nodes, {}, opset=18)
    assert load_model(path).costs().layers[0].output_shape == (3, 1, 1)


def test_an_unsupported_operator_on_the_image_is_still_refused(tmp_path: Path) -> None:
    path = save(tmp_path / "lrn.onnx", [helper.make_node("LRN", ["x"], ["y"], name="/lrn", size=3)], {})
    with pytest.raises(SpecError) as err:
        load_model(path)
    assert str(err.value) == f"{path}: layer '/lrn': unsupported ONNX operator 'LRN'"


# -- what a report says of the file ----------------------------------------------------------------


def test_a_file_without_batch_norms_and_with_biased_convolutions_is_said_to_be_folded_or_norm_free(
    tmp_path: Path,
) -> None:
    notes = load_model(classifier(tmp_path / "net.onnx")).notes
    assert len(notes) == 1
    assert notes[0].startswith("there is no batch norm in this file and 1 convolution carries a bias: either")
    assert "torchvision's num_params) is larger by one value per channel" in notes[0]


def test_weights_the_exporter_renamed_say_the_norms_were_folded(tmp_path: Path) -> None:
    nodes = [helper.make_node("Conv", ["x", "onnx::Conv_12", "onnx::Conv_13"], ["y"], name="/conv/Conv")]
    path = save(tmp_path / "folded.onnx", nodes, {"onnx::Conv_12": floats(4, 3, 3, 3), "onnx::Conv_13": floats(4)})
    (note,) = load_model(path).notes
    assert "1 of them with weights the exporter renamed (onnx::Conv_…)" in note


def test_a_file_with_batch_norms_has_no_note(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/conv"),
        helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], name="/bn"),
    ]
    inits = {"w": floats(4, 3, 3, 3), "g": floats(4), "b": floats(4), "m": floats(4), "v": np.ones(4, np.float32)}
    assert load_model(save(tmp_path / "bn.onnx", nodes, inits)).notes == []


def test_a_fixed_batch_is_counted_per_image_and_said_so(tmp_path: Path) -> None:
    one = load_model(classifier(tmp_path / "one.onnx")).costs()
    path = classifier(tmp_path / "four.onnx", shape=(4, 3, 8, 8))
    model = load_model(path)
    assert (model.costs().params, model.costs().macs) == (one.params, one.macs)
    assert model.notes[0] == (
        "the file takes a fixed batch of 4 images; every count here is per image (one run of the file does "
        "4 times the MACs)"
    )
    shown_as = {
        "table": "note: the file takes",
        "json": '"notes": [',
        "md": "Note: the file takes",
        "html": "Note: the",
    }
    for fmt, shown in shown_as.items():
        result = CliRunner().invoke(main, ["report", path, "--format", fmt])
        assert result.exit_code == 0 and shown in result.output, result.output


# -- SiLU as files before opset 24 write it ----------------------------------------------------------


def test_sigmoid_times_its_input_is_one_silu_layer(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/conv"),
        helper.make_node("Sigmoid", ["c"], ["s"], name="/act/Sigmoid"),
        helper.make_node("Mul", ["c", "s"], ["y"], name="/act/Mul"),
    ]
    path = save(tmp_path / "silu.onnx", nodes, {"w": floats(4, 3, 3, 3)})
    layers = load_model(path).costs().layers
    assert [(layer.name, layer.op) for layer in layers] == [("/conv", "conv2d"), ("/act/Mul", "silu")]
    x = floats(1, 3, 8, 8)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(main, ["run", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), onnxruntime_output(path, x), rtol=1e-5, atol=1e-6)


def test_a_sigmoid_used_elsewhere_stays_a_sigmoid(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Sigmoid", ["x"], ["s"], name="/gate"),
        helper.make_node("Mul", ["x", "s"], ["m"], name="/mul"),
        helper.make_node("Add", ["m", "s"], ["y"], name="/add"),
    ]
    layers = load_model(save(tmp_path / "gate.onnx", nodes, {})).costs().layers
    assert [layer.op for layer in layers] == ["sigmoid", "mul", "add"]


def test_text_fields_that_are_not_utf8_are_left_out(tmp_path: Path) -> None:
    """protobuf hands a string field that is not valid UTF-8 back as bytes (a damaged or hostile file)."""
    path = classifier(tmp_path / "net.onnx")
    proto = onnx.load(path)
    proto.producer_name = "QQQQ"
    raw = proto.SerializeToString().replace(b"QQQQ", b"\xff\xfe\xfd\xfc")
    (tmp_path / "bad.onnx").write_bytes(raw)
    model = load_model(str(tmp_path / "bad.onnx"))
    assert "exported by" not in model.spec.source and model.costs().params > 0


def _with_bytes(path: str, marker: str, tmp_path: Path) -> str:
    """The file at ``path`` with the text ``marker`` replaced by bytes that are not UTF-8."""
    raw = Path(path).read_bytes().replace(marker.encode(), b"\xff\xfe\xfd\x80")
    (tmp_path / "bad.onnx").write_bytes(raw)
    return str(tmp_path / "bad.onnx")


def test_a_graph_name_that_is_not_utf8_is_left_out(tmp_path: Path) -> None:
    proto = onnx.load(classifier(tmp_path / "net.onnx"))
    proto.graph.name = "QQQQ"
    onnx.save(proto, str(tmp_path / "named.onnx"))
    model = load_model(_with_bytes(str(tmp_path / "named.onnx"), "QQQQ", tmp_path))
    assert model.costs().params > 0 and "QQQQ" not in model.spec.title


def test_a_tensor_name_that_is_not_utf8_is_one_error(tmp_path: Path) -> None:
    proto = onnx.load(classifier(tmp_path / "net.onnx"))
    proto.graph.output[0].name = "QQQQ"
    proto.graph.node[-1].output[0] = "QQQQ"
    onnx.save(proto, str(tmp_path / "renamed.onnx"))
    result = CliRunner().invoke(main, ["report", _with_bytes(str(tmp_path / "renamed.onnx"), "QQQQ", tmp_path)])
    assert result.exit_code == 2
    assert "not UTF-8 text" in result.output and len(result.output.strip().splitlines()) == 1


def test_an_attribute_of_a_later_opset_is_checked_against_its_type(tmp_path: Path) -> None:
    """MaxPool has dilations from opset 10 on; an opset-6 file that gives one as an INT (not INTS) is
    refused naming the node, not read as something to iterate."""
    nodes = [
        helper.make_node("MaxPool", ["x"], ["y"], name="/pool", kernel_shape=[2, 2], strides=[2, 2], dilations=1),
    ]
    path = save(tmp_path / "pool.onnx", nodes, {}, opset=6)
    with pytest.raises(SpecError, match=r"/pool.*attribute 'dilations' of MaxPool must be INTS, got INT"):
        load_model(path)


def test_a_chunk_whose_bounds_come_from_the_shape_is_read(tmp_path: Path) -> None:
    """torch.chunk as the legacy exporter writes it (ShuffleNet v2): Slice bounds computed from the
    activation's Shape (Gather, Add, Div, Mul), which ONNX's shape inference alone cannot size."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/conv"),
        helper.make_node("Shape", ["c"], ["shape"], name="/Shape"),
        helper.make_node("Gather", ["shape", "axis1"], ["channels"], name="/Gather", axis=0),
        helper.make_node("Add", ["channels", "one"], ["plus"], name="/Add"),
        helper.make_node("Div", ["plus", "two"], ["half"], name="/Div"),
        helper.make_node("Mul", ["half", "one"], ["middle"], name="/Mul"),
        helper.make_node("Mul", ["half", "two"], ["end"], name="/Mul_1"),
        helper.make_node("Slice", ["c", "zero", "middle", "axis1"], ["first"], name="/Slice"),
        helper.make_node("Slice", ["c", "middle", "end", "axis1"], ["second"], name="/Slice_1"),
        helper.make_node("Relu", ["second"], ["r"], name="/branch/Relu"),
        helper.make_node("Concat", ["first", "r"], ["y"], name="/Concat", axis=1),
    ]
    inits = {
        "w": floats(6, 3, 1, 1),
        "axis1": np.array([1], np.int64),
        "zero": np.array([0], np.int64),
        "one": np.array([1], np.int64),
        "two": np.array([2], np.int64),
    }
    path = save(tmp_path / "chunk.onnx", nodes, inits)
    layers = load_model(path).costs().layers
    assert [(layer.name, layer.op, layer.output_shape) for layer in layers] == [
        ("/conv", "conv2d", (6, 8, 8)),
        ("/Slice", "slice", (3, 8, 8)),
        ("/Slice_1", "slice", (3, 8, 8)),
        ("/branch/Relu", "relu", (3, 8, 8)),
        ("/Concat", "concat", (6, 8, 8)),
    ]
    x = floats(1, 3, 8, 8)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(main, ["run", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), onnxruntime_output(path, x), rtol=1e-5, atol=1e-6)
