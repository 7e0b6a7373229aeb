"""resize (costmodel.ops.resize): nearest and bilinear resizing of the spatial sides.

Claims:
- shapes and counts by hand: floor(side · scale) or the size given; nearest counts nothing, bilinear
  7 other ops per output value; no weights, no MACs;
- the kernel samples where ONNX says: nearest at floor(o / s), bilinear at (o + 1/2) / s - 1/2 (or
  corners on corners), clamped; checked against onnxruntime through files costmodel exports;
- ONNX Resize as PyTorch writes it (nearest with asymmetric / floor and scales; linear with
  pytorch_half_pixel, half_pixel or align_corners and sizes, the sizes computed from the input's Shape as
  the legacy exporter does), opset 10's Resize and opset 9's Upsample import as one layer named after the
  node, and ``run`` equals onnxruntime;
- what it does not read (cubic, other nearest roundings, different factors per axis) is refused in one
  line naming the node.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel.cli import main
from costmodel.errors import SpecError
from costmodel.loading import load_model

RNG = np.random.default_rng(17)

SPEC = """\
name: seg
symbols:
  rho: {default: 1.0, domain: "> 0"}
input: {channels: 3, size: [40*rho, 24*rho]}
layers:
  - {op: conv2d, name: c1, out: 8, k: 3, stride: 4, pad: 1}
  - {op: resize, name: up2, scale: 2}
  - {op: conv2d, name: c2, out: 4, k: 1}
  - {op: resize, name: up, size: [40, 24], bilinear: true}
  - {op: resize, name: corners, size: [13, 7], bilinear: true, align_corners: true}
  - {op: resize, name: third, scale: 1/3, bilinear: true, pytorch_half_pixel: true}
  - {op: resize, name: half, scale: 0.5}
"""


def floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def test_a_spec_with_resizes_counts_by_hand_and_verifies(tmp_path: Path) -> None:
    spec = tmp_path / "seg.yaml"
    spec.write_text(SPEC)
    costs = load_model(str(spec)).costs()
    shapes = {layer.name: layer.output_shape for layer in costs.layers}
    assert shapes == {
        "c1": (8, 10, 6),
        "up2": (8, 20, 12),
        "c2": (4, 20, 12),
        "up": (4, 40, 24),
        "corners": (4, 13, 7),
        "third": (4, 4, 2),
        "half": (4, 2, 1),
    }
    other = {layer.name: layer.other_ops for layer in costs.layers if layer.op == "resize"}
    assert other == {"up2": 0, "up": 7 * 4 * 40 * 24, "corners": 7 * 4 * 13 * 7, "third": 7 * 4 * 4 * 2, "half": 0}
    assert costs.macs == 8 * 27 * 10 * 6 + 4 * 8 * 20 * 12
    result = CliRunner().invoke(main, ["verify", str(spec), "--res", "80x48"])
    assert result.exit_code == 0, result.output


onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import helper  # noqa: E402
from onnx_builders import exported, one_input_model, run_matches_onnxruntime  # noqa: E402


def test_export_then_import_is_the_same_network_and_onnxruntime_agrees(tmp_path: Path) -> None:
    spec, out = exported(tmp_path, SPEC, "seg")
    original, back = load_model(spec), load_model(out)
    layers = [(n.name, n.op) for n in back.network(back.default_point()).nodes]
    assert layers == [(n.name, n.op) for n in original.network(original.default_point()).nodes]
    assert back.costs().other_ops == original.costs().other_ops
    run_matches_onnxruntime(out, floats(2, 3, 40, 24), tmp_path, rtol=1e-5, atol=1e-5)


def _resize(opset: int, mode: str, how: str | None, scales: list[float] | None, sizes: list[int] | None, **extra):
    attrs = {"mode": mode, **extra}
    if how is not None:
        attrs["coordinate_transformation_mode"] = how
    inits: dict[str, np.ndarray] = {}
    nodes = []
    if opset < 11:
        inits["scales"] = np.array(scales, np.float32)
        return [helper.make_node("Resize", ["x", "scales"], ["y"], name="/up/Resize", **attrs)], inits
    inputs = ["x", "", ""]
    if scales is not None:
        inputs[2] = "scales"
        inits["scales"] = np.array(scales, np.float32)
    if sizes is not None:  # the legacy exporter: Concat(Shape(x)[:2], [h, w])
        inits["hw"] = np.array(sizes, np.int64)
        nodes += [
            helper.make_node("Shape", ["x"], ["shape"], name="/up/Shape", end=2),
            helper.make_node("Concat", ["shape", "hw"], ["sizes"], name="/up/Concat", axis=0),
        ]
        inputs.append("sizes")
    nodes.append(helper.make_node("Resize", inputs, ["y"], name="/up/Resize", **attrs))
    return nodes, inits


CASES = [
    # opset, mode, coordinates, scales, sizes, extra attributes, output side
    (17, "nearest", "asymmetric", [1, 1, 2, 2], None, {"nearest_mode": "floor"}, (10, 14)),
    (17, "nearest", "asymmetric", [1, 1, 0.5, 0.5], None, {"nearest_mode": "floor"}, (2, 3)),
    (17, "linear", "pytorch_half_pixel", None, [11, 9], {}, (11, 9)),
    (17, "linear", "half_pixel", [1, 1, 1.5, 1.5], None, {}, (7, 10)),
    (17, "linear", "align_corners", None, [9, 1], {}, (9, 1)),
    (10, "nearest", None, [1, 1, 3, 3], None, {}, (15, 21)),
]


@pytest.mark.parametrize(("opset", "mode", "how", "scales", "sizes", "extra", "side"), CASES)
def test_onnx_resize_is_one_layer_and_runs_as_onnxruntime(
    tmp_path: Path, opset: int, mode: str, how: str | None, scales, sizes, extra, side: tuple[int, int]
) -> None:
    nodes, inits = _resize(opset, mode, how, scales, sizes, **extra)
    path = one_input_model(tmp_path / "up.onnx", nodes, inits, (1, 3, 5, 7), opset)
    costs = load_model(path).costs()
    assert [(layer.name, layer.op, layer.output_shape) for layer in costs.layers] == [
        ("/up/Resize", "resize", (3, *side))
    ]
    assert costs.other_ops == (7 * 3 * side[0] * side[1] if mode == "linear" else 0)
    run_matches_onnxruntime(path, floats(1, 3, 5, 7), tmp_path)


def test_opset_9_upsample_is_a_nearest_resize(tmp_path: Path) -> None:
    nodes = [helper.make_node("Upsample", ["x", "scales"], ["y"], name="/up/Upsample", mode="nearest")]
    path = one_input_model(tmp_path / "up.onnx", nodes, {"scales": np.array([1, 1, 2, 2], np.float32)}, (1, 3, 4, 4), 9)
    costs = load_model(path).costs()
    assert [(layer.op, layer.output_shape) for layer in costs.layers] == [("resize", (3, 8, 8))]
    run_matches_onnxruntime(path, floats(1, 3, 4, 4), tmp_path)


@pytest.mark.parametrize(
    ("mode", "how", "scales", "extra", "message"),
    [
        ("cubic", "half_pixel", [1, 1, 2, 2], {}, "Resize in mode 'cubic' is not supported"),
        ("nearest", "half_pixel", [1, 1, 2, 2], {}, "coordinate_transformation_mode 'half_pixel'"),
        ("nearest", "asymmetric", [1, 1, 2, 2], {"nearest_mode": "round_prefer_ceil"}, "nearest_mode"),
        ("linear", "tf_crop_and_resize", [1, 1, 2, 2], {}, "'tf_crop_and_resize'"),
        ("linear", "half_pixel", [1, 1, 2, 3], {}, "the same factor on both spatial axes"),
        ("linear", "half_pixel", [1, 2, 2, 2], {}, "the same factor on both spatial axes"),
    ],
)
def test_resizes_costmodel_does_not_read_are_refused_naming_the_node(
    tmp_path: Path, mode: str, how: str, scales: list[float], extra: dict, message: str
) -> None:
    nodes, inits = _resize(17, mode, how, scales, None, **extra)
    path = one_input_model(tmp_path / "up.onnx", nodes, inits, (1, 3, 5, 7), 17)
    with pytest.raises(SpecError, match=r"layer '/up/Resize': .*" + message.replace("(", r"\(")):
        load_model(path)
