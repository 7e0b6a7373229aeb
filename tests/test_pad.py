"""pad (costmodel.ops.padding): explicit constant padding of the spatial sides.

Claims:
- a pad adds rows and columns (shape by hand), has no weights, MACs or other ops, and refuses negative
  amounts and inputs that are not images;
- its kernel is NumPy's constant pad with the value asked for;
- a spec with pads passes ``verify``, exports to ONNX that onnxruntime runs as the executor does, and
  imports back with the same layers and counts;
- ONNX Pad (opset 2 attributes, opset 11 inputs, opset 18 axes) imports as a pad layer named after the
  node, and ``run`` equals onnxruntime; modes other than constant, pads of the batch or the channels and
  crops are refused in one line naming the node;
- a Conv's asymmetric padding is TensorFlow's 'same' where it is exactly that (one layer), and otherwise
  a pad layer before the convolution (``NODE/pad``), so that ``run`` equals onnxruntime either way
  (Keras's ZeroPadding2D((1, 0), (1, 0)) before a strided conv, as its MobileNet v2 writes).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel.cli import main
from costmodel.errors import SpecError
from costmodel.loading import load_model
from costmodel.ops import REGISTRY

RNG = np.random.default_rng(13)


def floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def test_the_kernel_is_numpy_s_constant_pad() -> None:
    x = floats(2, 3, 4, 5)
    y, _ = REGISTRY["pad"](top=1, bottom=2, left=0, right=3, value=0.5).kernel([x], {})
    assert y.shape == (2, 3, 7, 8)
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (0, 0), (1, 2), (0, 3)), constant_values=0.5))


SPEC = """\
name: padnet
symbols:
  rho: {default: 1.0, domain: "> 0"}
input: {channels: 3, size: 32*rho}
layers:
  - {op: pad, name: zp, bottom: 1, right: 1}
  - {op: conv2d, name: c1, out: 8, k: 3, stride: 2}
  - {op: relu, name: r1}
  - {op: pad, name: zp2, top: 2, bottom: 1, left: 1, right: 3, value: 0.5}
  - {op: conv2d, name: dw, out: in, groups: in, k: 3}
  - {op: global_avg_pool, name: pool}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, out: 10}
"""


def test_a_spec_with_pads_counts_by_hand_and_verifies(tmp_path: Path) -> None:
    spec = tmp_path / "padnet.yaml"
    spec.write_text(SPEC)
    model = load_model(str(spec))
    costs = model.costs()
    shapes = {layer.name: layer.output_shape for layer in costs.layers}
    assert shapes["zp"] == (3, 33, 33) and shapes["c1"] == (8, 16, 16)
    assert shapes["zp2"] == (8, 19, 20) and shapes["dw"] == (8, 17, 18)
    assert costs.macs == 8 * 27 * 16 * 16 + 8 * 9 * 17 * 18 + 8 * 10
    result = CliRunner().invoke(main, ["verify", str(spec), "--res", "45"])
    assert result.exit_code == 0, result.output


onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402
from onnx_builders import exported, one_input_model, run_matches_onnxruntime  # noqa: E402


def test_export_then_import_is_the_same_network_and_onnxruntime_agrees(tmp_path: Path) -> None:
    spec, out = exported(tmp_path, SPEC, "padnet")
    original, back = load_model(spec).costs(), load_model(out).costs()
    pads = [(layer.name, layer.output_shape) for layer in back.layers if layer.op == "pad"]
    assert pads == [("zp", (3, 33, 33)), ("zp2", (8, 19, 20))]
    assert (back.params, back.macs, back.other_ops) == (original.params, original.macs, original.other_ops)
    run_matches_onnxruntime(out, floats(2, 3, 32, 32), tmp_path)


def _pad_node(opset: int, pads: list[int], value: float = 0.0, mode: str = "constant", axes: list[int] | None = None):
    """A Pad of x as the opset writes it: attributes before 11, inputs from 11, axes from 18."""
    if opset < 11:
        return [helper.make_node("Pad", ["x"], ["y"], name="/pad/Pad", pads=pads, value=value, mode=mode)], {}
    inputs, inits = ["x", "pads", "value"], {"pads": np.array(pads, np.int64), "value": np.array(value, np.float32)}
    if axes is not None:
        inputs.append("axes")
        inits["axes"] = np.array(axes, np.int64)
    return [helper.make_node("Pad", inputs, ["y"], name="/pad/Pad", mode=mode)], inits


@pytest.mark.parametrize(
    ("opset", "pads", "axes", "shape"),
    [
        (2, [0, 0, 1, 0, 0, 0, 2, 3], None, (3, 9, 9)),
        (13, [0, 0, 0, 1, 0, 0, 1, 0], None, (3, 7, 7)),
        (18, [2, 1, 0, 1], [2, 3], (3, 8, 8)),
        (18, [1, 2, 3, 0], [-1, -2], (3, 8, 10)),
        # the channels and the rows: the (H, W, C) reading of the same array, each axis padded as given
        (13, [0, 1, 2, 0, 0, 0, 1, 0], None, (4, 9, 6)),
    ],
    ids=["opset-2-attributes", "opset-13", "opset-18-axes", "opset-18-negative-axes", "channels-and-rows"],
)
def test_onnx_pad_is_a_pad_layer_and_runs_as_onnxruntime(
    tmp_path: Path, opset: int, pads: list[int], axes: list[int] | None, shape: tuple[int, ...]
) -> None:
    nodes, inits = _pad_node(opset, pads, 1.5, axes=axes)
    path = one_input_model(tmp_path / "pad.onnx", nodes, inits, (1, 3, 6, 6), opset)
    costs = load_model(path).costs()
    assert [(layer.name, layer.op, layer.output_shape) for layer in costs.layers] == [("/pad/Pad", "pad", shape)]
    run_matches_onnxruntime(path, floats(1, 3, 6, 6), tmp_path)


@pytest.mark.parametrize(
    ("pads", "mode", "message"),
    [
        ([0, 0, 1, 1, 0, 0, 1, 1], "reflect", "Pad in mode 'reflect' is not supported"),
        ([1, 0, 0, 0, 1, 0, 0, 0], "constant", "Pad of [1, 0, 0, 0, 1, 0, 0, 0]: only the sides of an image"),
        ([0, 1, 0, 1, 0, 0, 0, 0], "constant", "Pad of [0, 1, 0, 1, 0, 0, 0, 0]: only the sides of an image"),
        ([0, 0, -1, 0, 0, 0, 0, 0], "constant", "Pad by negative amounts (a crop"),
    ],
)
def test_pads_costmodel_does_not_read_are_refused_naming_the_node(
    tmp_path: Path, pads: list[int], mode: str, message: str
) -> None:
    nodes, inits = _pad_node(13, pads, mode=mode)
    path = one_input_model(tmp_path / "pad.onnx", nodes, inits, (1, 3, 6, 6), 13)
    with pytest.raises(SpecError, match=r"layer '/pad/Pad': " + re.escape(message)):
        load_model(path)


@pytest.mark.parametrize(
    ("pads", "layers"),
    [
        ([0, 0, 1, 1], [("c", "conv2d")]),  # TensorFlow's 'same' at stride 2 on 8: the odd pixel after
        ([1, 1, 0, 0], [("c/pad", "pad"), ("c", "conv2d")]),  # Keras's ZeroPadding2D((1, 0), (1, 0))
        ([0, 1, 2, 1], [("c/pad", "pad"), ("c", "conv2d")]),
    ],
)
def test_a_conv_s_asymmetric_padding_runs_as_the_file_says(
    tmp_path: Path, pads: list[int], layers: list[tuple[str, str]]
) -> None:
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="c", pads=pads, strides=[2, 2])]
    path = one_input_model(tmp_path / "c.onnx", nodes, {"w": floats(4, 3, 3, 3), "b": floats(4)}, (1, 3, 8, 8))
    costs = load_model(path).costs()
    assert [(layer.name, layer.op) for layer in costs.layers] == layers
    top, left, bottom, right = pads
    out_h, out_w = (8 + top + bottom - 3) // 2 + 1, (8 + left + right - 3) // 2 + 1
    assert costs.layers[-1].output_shape == (4, out_h, out_w)
    assert costs.macs == 4 * 27 * out_h * out_w
    run_matches_onnxruntime(path, floats(1, 3, 8, 8), tmp_path)
