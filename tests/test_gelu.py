"""GELU (ViT, Swin, ConvNeXt): the kernel against math.erf, the spec op through verify and export, and
the ways ONNX files write it: opset 20's Gelu, and PyTorch's x · (1 + erf(x / √2)) / 2 around an Erf
before it, read as one layer named after its last node and run as onnxruntime runs the file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel.cli import main
from costmodel.ops import REGISTRY

RNG = np.random.default_rng(11)

SPEC = """\
name: gelu_net
input: {channels: 3, size: 8}
layers:
  - {op: conv2d, name: conv, out: 6, k: 3, pad: 1}
  - {op: gelu, name: act}
  - {op: conv2d, name: conv2, out: 4, k: 1}
  - {op: gelu, name: act2, tanh: true}
"""


def reference(x: np.ndarray, tanh: bool) -> np.ndarray:
    x = x.astype(np.float64)
    if tanh:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return x * 0.5 * np.vectorize(math.erfc)(-x / math.sqrt(2))  # 1 + erf would lose the left tail


@pytest.mark.parametrize("tanh", [False, True])
def test_the_kernel_is_gelu_to_float32_precision_tails_included(tanh: bool) -> None:
    x = np.concatenate([np.linspace(-12, 12, 4001), RNG.standard_normal(2000) * 3]).astype(np.float32)
    y, macs = REGISTRY["gelu"](tanh=tanh).kernel([x.reshape(1, -1, 1, 1)], {})
    expected = reference(x, tanh)
    assert macs == 0 and y.dtype == np.float32
    relative = np.abs(y.reshape(-1) - expected) / np.maximum(np.abs(expected), 1e-30)
    assert float(np.max(relative[np.abs(expected) > 1e-30])) < 2e-6


def test_a_spec_with_gelu_verifies_and_counts_its_ops(tmp_path: Path) -> None:
    spec = tmp_path / "gelu_net.yaml"
    spec.write_text(SPEC)
    result = CliRunner().invoke(main, ["verify", str(spec)])
    assert result.exit_code == 0, result.output
    assert "agree" in result.output
    from costmodel.loading import load_model

    layers = {layer.name: layer for layer in load_model(str(spec)).costs().layers}
    assert (layers["act"].macs, layers["act"].params, layers["act"].other_ops) == (0, 0, 5 * 6 * 8 * 8)


onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402
from onnx_builders import one_input_model, run_matches_onnxruntime  # noqa: E402

from costmodel.errors import SpecError  # noqa: E402
from costmodel.loading import load_model  # noqa: E402


def constants() -> dict[str, np.ndarray]:
    return {
        "w": RNG.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "root2": np.array(math.sqrt(2), dtype=np.float32),
        "inv_root2": np.array(1 / math.sqrt(2), dtype=np.float32),
        "one": np.array(1, dtype=np.float32),
        "half": np.array(0.5, dtype=np.float32),
        "two": np.array(2, dtype=np.float32),
    }


def test_the_dynamo_form_halving_one_plus_erf_is_one_gelu_layer(tmp_path: Path) -> None:
    """torch.onnx.export(dynamo=True, opset_version=18): x · ((1 + erf(x / √2)) · 0.5)."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/conv", pads=[1, 1, 1, 1]),
        helper.make_node("Div", ["c", "root2"], ["u"], name="node_Div_3"),
        helper.make_node("Erf", ["u"], ["e"], name="node_Erf_4"),
        helper.make_node("Add", ["e", "one"], ["a"], name="node_Add_6"),
        helper.make_node("Mul", ["half", "a"], ["h"], name="node_Mul_8"),
        helper.make_node("Mul", ["c", "h"], ["y"], name="node_gelu"),
    ]
    path = one_input_model(tmp_path / "gelu18.onnx", nodes, constants())
    layers = load_model(path).costs().layers
    assert [(layer.name, layer.op) for layer in layers] == [("/conv", "conv2d"), ("node_gelu", "gelu")]
    runs_as_onnxruntime(path, tmp_path)


def erf_gelu(halving_first: bool, scaled_by_mul: bool) -> list:
    """conv -> GELU as PyTorch's exporters write it before opset 20."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="/conv", pads=[1, 1, 1, 1])]
    if scaled_by_mul:
        nodes.append(helper.make_node("Mul", ["inv_root2", "c"], ["u"], name="/act/Mul_scale"))
    else:
        nodes.append(helper.make_node("Div", ["c", "root2"], ["u"], name="/act/Div"))
    nodes += [
        helper.make_node("Erf", ["u"], ["e"], name="/act/Erf"),
        helper.make_node("Add", ["e", "one"], ["a"], name="/act/Add"),
    ]
    if halving_first:
        nodes += [
            helper.make_node("Mul", ["c", "half"], ["h"], name="/act/Mul_half"),
            helper.make_node("Mul", ["h", "a"], ["y"], name="/act/Mul"),
        ]
    else:
        nodes += [
            helper.make_node("Mul", ["c", "a"], ["m"], name="/act/Mul"),
            helper.make_node("Div", ["m", "two"], ["y"], name="/act/Div_1"),
        ]
    return nodes


def runs_as_onnxruntime(path: str, tmp_path: Path) -> None:
    run_matches_onnxruntime(path, RNG.standard_normal((1, 3, 8, 8)).astype(np.float32), tmp_path)


@pytest.mark.parametrize(
    ("halving_first", "scaled_by_mul", "name"),
    [(False, False, "/act/Div_1"), (True, False, "/act/Mul"), (False, True, "/act/Div_1"), (True, True, "/act/Mul")],
)
def test_the_erf_form_is_one_gelu_layer_named_after_its_last_node(
    tmp_path: Path, halving_first: bool, scaled_by_mul: bool, name: str
) -> None:
    path = one_input_model(tmp_path / "gelu.onnx", erf_gelu(halving_first, scaled_by_mul), constants())
    layers = load_model(path).costs().layers
    assert [(layer.name, layer.op) for layer in layers] == [("/conv", "conv2d"), (name, "gelu")]
    runs_as_onnxruntime(path, tmp_path)


def test_the_tanh_form_as_pytorch_writes_it_is_one_gelu_layer(tmp_path: Path) -> None:
    """PyTorch's gelu(approximate='tanh') before opset 20: 0.5·x · (1 + tanh(β · (x + κ · x³)))."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/conv", pads=[1, 1, 1, 1]),
        helper.make_node("Pow", ["c", "three"], ["p"], name="/act/Pow"),
        helper.make_node("Mul", ["kappa", "p"], ["k"], name="/act/Mul_kappa"),
        helper.make_node("Add", ["c", "k"], ["s"], name="/act/Add_inner"),
        helper.make_node("Mul", ["beta", "s"], ["b"], name="/act/Mul_beta"),
        helper.make_node("Tanh", ["b"], ["t"], name="/act/Tanh"),
        helper.make_node("Add", ["one", "t"], ["a"], name="/act/Add"),
        helper.make_node("Mul", ["half", "c"], ["h"], name="/act/Mul_half"),
        helper.make_node("Mul", ["h", "a"], ["y"], name="/act/Mul"),
    ]
    inits = {
        **constants(),
        "three": np.array(3, dtype=np.float32),
        "kappa": np.array(0.044715, dtype=np.float32),
        "beta": np.array(math.sqrt(2 / math.pi), dtype=np.float32),
    }
    path = one_input_model(tmp_path / "gelu_tanh.onnx", nodes, inits)
    model = load_model(path)
    assert [(layer.name, layer.op) for layer in model.costs().layers] == [("/conv", "conv2d"), ("/act/Mul", "gelu")]
    assert model.network(model.default_point()).nodes[-1].op.tanh is True
    runs_as_onnxruntime(path, tmp_path)


def test_a_lone_tanh_is_a_tanh(tmp_path: Path) -> None:
    """Outside a GELU's pattern a Tanh is the activation itself (MaxViT's classifier)."""
    path = one_input_model(tmp_path / "tanh.onnx", [helper.make_node("Tanh", ["x"], ["y"], name="/t")])
    assert [(layer.name, layer.op) for layer in load_model(path).costs().layers] == [("/t", "tanh")]
    runs_as_onnxruntime(path, tmp_path)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_opset_20_gelu_is_read_with_its_approximation(tmp_path: Path, approximate: str) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="/conv", pads=[1, 1, 1, 1]),
        helper.make_node("Gelu", ["c"], ["y"], name="/act/Gelu", approximate=approximate),
    ]
    path = one_input_model(tmp_path / "gelu20.onnx", nodes, {"w": constants()["w"]}, opset=20)
    layers = load_model(path).costs().layers
    assert [(layer.name, layer.op) for layer in layers] == [("/conv", "conv2d"), ("/act/Gelu", "gelu")]
    assert load_model(path).network(load_model(path).default_point()).nodes[-1].op.tanh is (approximate == "tanh")
    runs_as_onnxruntime(path, tmp_path)


def test_an_erf_that_is_no_gelu_is_refused_naming_it(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Erf", ["x"], ["e"], name="/lonely/Erf"),
        helper.make_node("Add", ["e", "one"], ["y"], name="/lonely/Add"),
    ]
    path = one_input_model(tmp_path / "erf.onnx", nodes, {"one": np.array(1, dtype=np.float32)})
    with pytest.raises(SpecError, match=r"/lonely/Erf.*only inside a GELU"):
        load_model(path)


def test_a_gelu_half_used_elsewhere_is_no_gelu(tmp_path: Path) -> None:
    nodes = erf_gelu(halving_first=False, scaled_by_mul=False)
    nodes[-1] = helper.make_node("Div", ["m", "two"], ["d"], name="/act/Div_1")
    nodes.append(helper.make_node("Add", ["d", "a"], ["y"], name="/reuse"))  # the 1 + erf read twice
    path = one_input_model(tmp_path / "reuse.onnx", nodes, constants())
    with pytest.raises(SpecError, match=r"unsupported ONNX operator 'Div'|only inside a GELU"):
        load_model(path)


@pytest.mark.parametrize("tanh", [False, True])
def test_export_then_import_is_the_same_network_and_onnxruntime_agrees(tmp_path: Path, tanh: bool) -> None:
    spec = tmp_path / "gelu_net.yaml"
    spec.write_text(SPEC.replace("tanh: true", f"tanh: {str(tanh).lower()}"))
    out = tmp_path / "gelu_net.onnx"
    result = CliRunner().invoke(main, ["export", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    original, back = load_model(str(spec)).costs(), load_model(str(out)).costs()
    assert [(layer.op, layer.output_shape) for layer in back.layers] == [
        (layer.op, layer.output_shape) for layer in original.layers
    ]
    flags = [
        [getattr(n.op, "tanh", None) for n in model.network(model.default_point()).nodes]
        for model in (load_model(str(out)), load_model(str(spec)))
    ]
    assert flags[0] == flags[1]
    assert (back.params, back.macs, back.other_ops) == (original.params, original.macs, original.other_ops)
