"""ConvNeXt as PyTorch exports it: a block that runs channels last between two Transposes (LayerNorm over
the channels, MatMuls as 1x1 convolutions, GELU), a layer scale, and dynamo's Reshape-and-Gather that
undoes itself. Read as channels-first layers named after their nodes, counted, run as onnxruntime runs
the file; the layernorm and scale ops of the spec language verified and exported back."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel.cli import main
from costmodel.loading import load_model

RNG = np.random.default_rng(5)

SPEC = """\
name: convnext_like
input: {channels: 3, size: 16}
layers:
  - {op: conv2d, name: stem, out: 8, k: 4, stride: 4}
  - {op: layernorm, name: stem_norm, eps: 0.000001}
  - parallel:
      - []
      - - {op: conv2d, name: dw, out: in, groups: in, k: 7, pad: 3}
        - {op: layernorm, name: norm, eps: 0.000001}
        - {op: conv2d, name: expand, out: 32, k: 1}
        - {op: gelu, name: act}
        - {op: conv2d, name: project, out: 8, k: 1}
        - {op: scale, name: layer_scale}
    merge: add
    name: block
  - {op: global_avg_pool, name: pool}
  - {op: layernorm, name: head_norm}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, out: 10}
"""


def floats(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) * 0.3).astype(np.float32)


def test_layernorm_and_scale_in_a_spec_verify(tmp_path: Path) -> None:
    spec = tmp_path / "convnext_like.yaml"
    spec.write_text(SPEC)
    result = CliRunner().invoke(main, ["verify", str(spec)])
    assert result.exit_code == 0, result.output
    layers = {layer.name: layer for layer in load_model(str(spec)).costs().layers}
    assert (layers["norm"].params, layers["norm"].macs, layers["norm"].other_ops) == (16, 0, 7 * 8 * 4 * 4)
    assert (layers["layer_scale"].params, layers["layer_scale"].macs) == (8, 0)
    assert layers["head_norm"].params == 16 and layers["head_norm"].output_shape == (8, 1, 1)


def test_the_layernorm_kernel_normalises_each_position_over_the_channels() -> None:
    from costmodel.ops import REGISTRY

    x = floats(2, 5, 3, 4)
    gamma, beta = floats(5), floats(5)
    y, _ = REGISTRY["layernorm"](eps=1e-6).kernel([x], {"gamma": gamma, "beta": beta})
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=1, keepdims=True)
    expected = (x64 - mean) / np.sqrt(var + 1e-6) * gamma.reshape(1, 5, 1, 1) + beta.reshape(1, 5, 1, 1)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402
from onnx_builders import one_input_model, run_matches_onnxruntime  # noqa: E402


def convnext_block(path: Path, *, perm_back: list[int] | None = None, scale_shape: tuple = (8, 1, 1)) -> str:
    """stem conv -> [Transpose, LayerNormalization, MatMul+Add, GELU (erf), MatMul+Add, Transpose] -> layer
    scale Mul -> residual Add, as the legacy exporter writes torchvision's CNBlock."""
    c = 8
    nodes = [
        helper.make_node(
            "Conv", ["x", "stem_w", "stem_b"], ["s"], name="/stem/Conv", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Transpose", ["s"], ["t"], name="/block/Transpose", perm=[0, 2, 3, 1]),
        helper.make_node(
            "LayerNormalization", ["t", "ln_w", "ln_b"], ["n"], name="/block/LayerNorm", axis=-1, epsilon=1e-6
        ),
        helper.make_node("MatMul", ["n", "w1"], ["m1"], name="/block/fc1/MatMul"),
        helper.make_node("Add", ["b1", "m1"], ["a1"], name="/block/fc1/Add"),
        helper.make_node("Div", ["a1", "root2"], ["d"], name="/block/act/Div"),
        helper.make_node("Erf", ["d"], ["e"], name="/block/act/Erf"),
        helper.make_node("Add", ["e", "one"], ["e1"], name="/block/act/Add"),
        helper.make_node("Mul", ["a1", "e1"], ["g0"], name="/block/act/Mul"),
        helper.make_node("Mul", ["g0", "half"], ["g"], name="/block/act/Mul_1"),
        helper.make_node("MatMul", ["g", "w2"], ["m2"], name="/block/fc2/MatMul"),
        helper.make_node("Add", ["b2", "m2"], ["a2"], name="/block/fc2/Add"),
        helper.make_node("Transpose", ["a2"], ["back"], name="/block/Transpose_1", perm=perm_back or [0, 3, 1, 2]),
        helper.make_node("Mul", ["layer_scale", "back"], ["scaled"], name="/block/Mul"),
        helper.make_node("Add", ["scaled", "s"], ["y"], name="/block/Add"),
    ]
    inits = {
        "stem_w": floats(c, 3, 2, 2),
        "stem_b": floats(c),
        "ln_w": floats(c) + 1,
        "ln_b": floats(c),
        "w1": floats(c, 4 * c),
        "b1": floats(4 * c),
        "w2": floats(4 * c, c),
        "b2": floats(c),
        "layer_scale": floats(*scale_shape),
        "root2": np.array(math.sqrt(2), np.float32),
        "one": np.array(1, np.float32),
        "half": np.array(0.5, np.float32),
    }
    return one_input_model(path, nodes, inits, shape=(1, 3, 8, 8))


def runs_as_onnxruntime(path: str, tmp_path: Path) -> None:
    run_matches_onnxruntime(path, floats(1, 3, 8, 8), tmp_path, rtol=1e-4, atol=1e-5)


def test_a_convnext_block_is_read_channels_first_counted_and_run(tmp_path: Path) -> None:
    path = convnext_block(tmp_path / "block.onnx")
    costs = load_model(path).costs()
    assert [(layer.name, layer.op) for layer in costs.layers] == [
        ("/stem/Conv", "conv2d"),
        ("/block/LayerNorm", "layernorm"),
        ("/block/fc1/MatMul", "conv2d"),
        ("/block/act/Mul_1", "gelu"),
        ("/block/fc2/MatMul", "conv2d"),
        ("/block/Mul", "scale"),
        ("/block/Add", "add"),
    ]
    hw = 4 * 4
    assert costs.macs == 8 * 3 * 4 * hw + 8 * 32 * hw + 32 * 8 * hw  # stem, then each MatMul per position
    assert costs.params == (8 * 12 + 8) + 16 + (8 * 32 + 32) + (32 * 8 + 8) + 8
    runs_as_onnxruntime(path, tmp_path)


def test_a_layer_scale_of_a_whole_map_is_a_stored_tensor(tmp_path: Path) -> None:
    """A Mul by a constant of the map's own shape (8, 4, 4), not one value per channel: a mul_constant,
    broadcast over the batch, that runs as onnxruntime does."""
    path = convnext_block(tmp_path / "map.onnx", scale_shape=(8, 4, 4))
    layers = {layer.name: (layer.op, layer.params_by_kind["norm_stats"]) for layer in load_model(path).costs().layers}
    assert layers["/block/Mul"] == ("mul_constant", 8 * 4 * 4)
    runs_as_onnxruntime(path, tmp_path)


def test_a_transpose_back_in_another_order_makes_the_view_real(tmp_path: Path) -> None:
    """[N, H, W, C] back to [N, C, W, H], not [N, C, H, W]: the view becomes a transpose layer (H, W, C),
    then one to (C, W, H); the block still runs as onnxruntime (its sides are equal, so the add fits)."""
    path = convnext_block(tmp_path / "other.onnx", perm_back=[0, 3, 2, 1])
    layers = [(layer.name, layer.op) for layer in load_model(path).costs().layers]
    assert ("/block/Transpose_1/channels_last", "transpose") in layers
    assert ("/block/Transpose_1", "transpose") in layers
    runs_as_onnxruntime(path, tmp_path)


def test_a_layernorm_over_the_width_of_a_channels_first_tensor(tmp_path: Path) -> None:
    """LayerNormalization over the last axis of [N, C, H, W]: each row of each channel, γ and β per column."""
    nodes = [helper.make_node("LayerNormalization", ["x", "w", "b"], ["y"], name="/ln", axis=-1)]
    path = one_input_model(tmp_path / "ln.onnx", nodes, {"w": floats(8), "b": floats(8)})
    (layer,) = load_model(path).costs().layers
    assert (layer.op, layer.params) == ("layernorm", 16)
    runs_as_onnxruntime(path, tmp_path)


def test_a_reshape_that_a_gather_undoes_is_no_layer(tmp_path: Path) -> None:
    """dynamo's lowering of a view after ConvNeXt's pool: Reshape to [C] and a Gather of every index back
    into [1, C, 1, 1]."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["p"], name="/pool"),
        helper.make_node("Reshape", ["p", "flat"], ["r"], name="node_Reshape"),
        helper.make_node("Gather", ["r", "indices"], ["g"], name="node_as_strided", axis=0),
        helper.make_node("Flatten", ["g"], ["f"], name="/flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="/fc", transB=1),
    ]
    inits = {
        "flat": np.array([-1], np.int64),
        "indices": np.arange(3, dtype=np.int64).reshape(1, 3, 1, 1),
        "fc_w": floats(5, 3),
        "fc_b": floats(5),
    }
    path = one_input_model(tmp_path / "gather.onnx", nodes, inits)
    assert [(layer.name, layer.op) for layer in load_model(path).costs().layers] == [
        ("/pool", "global_avg_pool"),
        ("/fc", "linear"),
    ]
    runs_as_onnxruntime(path, tmp_path)


def test_layernorm_and_scale_export_and_read_back_the_same(tmp_path: Path) -> None:
    spec = tmp_path / "convnext_like.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "convnext_like.onnx"
    result = CliRunner().invoke(main, ["export", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    original, back = load_model(str(spec)).costs(), load_model(str(out)).costs()
    ops = [[layer.op for layer in c.layers if layer.op != "flatten"] for c in (back, original)]  # linear flattens
    assert ops[0] == ops[1]
    assert (back.params, back.macs, back.other_ops) == (original.params, original.macs, original.other_ops)
