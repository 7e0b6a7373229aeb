"""Inputs whose height and width differ: ``size: [H, W]`` in a spec, ``--res HxW`` on any model, and
ONNX files of such inputs.

Claims:
- a spec's ``size: [H, W]`` gives an H×W input; every layer keeps the two sides apart (counted by hand);
- ``--res 224x160`` on a square model is that model with a 224×160 input: its params are the square
  model's, its MACs lie between 160×160 and 224×224, and for MobileNet v1 (square kernels, 'same'
  padding: each side shrinks on its own) they are the same for 160x224;
- the closed forms stay exact: at random resolutions of that aspect, the closed form equals the count;
- ``verify`` (executor = formula = count) passes at non-square points, the JSON says ``input_size``,
  tables label such rows ``HxW``, and published accuracy (measured at square inputs) is not shown;
- export → import keeps the input and every count, and ``run`` on the file equals onnxruntime;
- ``whatif`` writes a spec that reads back with the same input;
- bad sides are one-line errors, exit code 2.
"""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel import symbolic
from costmodel.cli import main
from costmodel.errors import UsageError
from costmodel.loading import load_model
from costmodel.model import PointOptions, input_sides

RECT = """\
name: rect
symbols:
  alpha: {default: 1.0, domain: "> 0"}
  rho: {default: 1.0, domain: "> 0"}
input: {channels: 3, size: [224*rho, 160*rho]}
width: {rule: floor_min8, multiplier: alpha}
layers:
  - {op: conv2d, name: c1, out: 32, k: 3, stride: 2, pad: same}
  - {op: relu, name: r1}
  - {op: conv2d, name: dw, out: in, groups: in, k: [3, 5], stride: [2, 1], pad: same}
  - {op: max_pool, name: mp, k: 3, stride: 2}
  - {op: conv2d, name: c2, out: 64, k: 1}
  - {op: global_avg_pool, name: pool}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, out: 10}
"""


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def rect(tmp_path: Path) -> str:
    path = tmp_path / "rect.yaml"
    path.write_text(RECT)
    return str(path)


def test_a_spec_input_of_two_sides_keeps_them_apart(rect: str) -> None:
    model = load_model(rect)
    point = model.default_point()
    assert (point.resolution, point.width, point.label) == (224, 160, "224x160")
    shapes = {layer.name: layer.output_shape for layer in model.costs(point).layers}
    # c1: ceil(224/2) × ceil(160/2); dw: 3×5 kernel, strides 2 and 1; max pool 3, stride 2, no padding
    assert shapes["c1"] == (32, 112, 80)
    assert shapes["dw"] == (32, 56, 80)
    assert shapes["mp"] == (32, 27, 39)
    macs = {layer.name: layer.macs for layer in model.costs(point).layers}
    assert macs["c1"] == 112 * 80 * 32 * 27
    assert macs["dw"] == 56 * 80 * 32 * 15
    assert macs["c2"] == 27 * 39 * 32 * 64


def test_a_resolution_keeps_the_spec_aspect_or_says_why_not(rect: str) -> None:
    model = load_model(rect)
    assert model.point(resolution="448").label == "448x320"
    assert model.point(resolution="448x320").label == "448x320"
    with pytest.raises(UsageError, match=r"would be 137\.1 wide: give both sides, e\.g\. --res 192x137"):
        model.point(resolution="192")
    code, out = cli("report", rect, "--res", "192")
    assert code == 2 and out.count("\n") == 1 and "192x137" in out
    shaped = PointOptions(resolution="192x137").reshape(model)
    assert shaped.point(resolution="192x137").label == "192x137"


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "squeezenet1_1"])
def test_res_h_x_w_on_a_square_model(name: str) -> None:
    model = load_model(name)
    shaped = PointOptions(resolution="224x160").reshape(model)
    point = shaped.point(resolution="224x160")
    costs = shaped.costs(point)
    assert shaped.network(point).input_shape == (3, 224, 160)
    square = {side: model.costs(model.point(resolution=side)) for side in (160, 224)}
    assert costs.params == square[224].params  # a global-pool head: the weights do not see the input
    assert square[160].macs < costs.macs < square[224].macs


def macs_at(name: str, sides: str) -> int:
    """A built-in's MACs at ``sides`` (``224`` or ``224x160``), through the Python API."""
    shaped = PointOptions(resolution=sides).reshape(load_model(name))
    return int(shaped.costs(shaped.point(resolution=sides)).macs)


def test_mobilenet_v1_counts_each_side_on_its_own(tmp_path: Path) -> None:
    """224x160 and 160x224 cost the same, and what the spec written with ``size: [224*rho, 160*rho]``
    costs: --res HxW is the model with that input."""
    spec = (Path(__file__).resolve().parent.parent / "specs" / "mobilenet_v1.yaml").read_text()
    written = tmp_path / "mobilenet_v1_224x160.yaml"
    written.write_text(spec.replace("size: 224*rho}", "size: [224*rho, 160*rho]}", 1))
    by_hand = load_model(str(written)).costs().macs
    assert macs_at("mobilenet_v1", "224x160") == macs_at("mobilenet_v1", "160x224") == by_hand


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2", "squeezenet1_0"])
def test_the_closed_form_equals_the_count_at_random_points_of_the_aspect(name: str) -> None:
    rng = np.random.default_rng(len(name))
    model = PointOptions(resolution="224x160").reshape(load_model(name))
    whole = symbolic.closed_form(model, "macs")
    for _ in range(6):
        side = int(rng.integers(64, 400))
        point = model.point(resolution=side, alpha=None)
        assert point.width == int(Fraction(side * 5, 7) + Fraction(1, 2))  # the nearest whole width
        assert symbolic.evaluate(whole, model, point) == model.costs(point).macs


@pytest.mark.parametrize(
    ("model", "args"),
    [
        ("mobilenet_v1", ["--alpha", "0.5", "--res", "160x224"]),
        ("mobilenet_v3_small", ["--res", "200x120"]),
        ("squeezenet1_1", ["--res", "227x300"]),
    ],
)
def test_verify_passes_at_non_square_points(model: str, args: list[str]) -> None:
    code, out = cli("verify", model, *args)
    assert code == 0, out
    sides = args[-1].replace("x", "×")
    assert f"{sides}: " in out and "agree" in out


def test_the_json_and_the_text_say_both_sides() -> None:
    code, out = cli("report", "mobilenet_v1", "--res", "224x160", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert (data["resolution"], data["input_size"]) == (224, [224, 160])
    assert data["layers"][0]["input_shape"] == [3, 224, 160]
    assert data["accuracy"] == []  # the paper measured 224×224
    code, square = cli("report", "mobilenet_v1", "--format", "json")
    assert json.loads(square)["input_size"] == [224, 224] and json.loads(square)["accuracy"]
    code, text = cli("report", "mobilenet_v1", "--res", "224x160")
    assert "224×160" in text.splitlines()[0]


def test_a_table_labels_non_square_rows() -> None:
    code, out = cli("table", "mobilenet_v1", "--res", "224,224x160", "--format", "csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    expected = [(sides, str(macs_at("mobilenet_v1", sides))) for sides in ("224", "224x160")]
    assert [(r["input"], r["MACs"]) for r in rows] == expected
    assert rows[1]["top-1 %"] == ""  # measured at 224×224 only


def test_expr_at_a_non_square_point_is_the_report_s_count() -> None:
    code, out = cli("expr", "mobilenet_v2", "--res", "224x160", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    code, report = cli("report", "mobilenet_v2", "--res", "224x160", "--format", "json")
    assert data["value"] == json.loads(report)["macs"]


def test_whatif_writes_a_spec_with_the_same_input(tmp_path: Path) -> None:
    out = tmp_path / "after.yaml"
    code, text = cli("whatif", "mobilenet_v1", "--res", "224x160", "--gap-head", "-o", str(out))
    assert code == 0, text
    back = load_model(str(out))
    assert back.default_point().label == "224x160"


onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("name", ["mobilenet_v2", "squeezenet1_0"])
def test_export_import_keeps_the_input_and_run_equals_onnxruntime(tmp_path: Path, name: str) -> None:
    from onnx_builders import run_matches_onnxruntime

    out = tmp_path / f"{name}.onnx"
    code, text = cli("export", name, "--res", "160x112", "-o", str(out))
    assert code == 0, text
    shaped = PointOptions(resolution="160x112").reshape(load_model(name))
    original = shaped.costs(shaped.point(resolution="160x112"))
    back = load_model(str(out))
    assert back.default_point().label == "160x112"
    assert (back.costs().params, back.costs().macs) == (original.params, original.macs)
    x = np.random.default_rng(3).standard_normal((2, 3, 160, 112)).astype(np.float32)
    run_matches_onnxruntime(str(out), x, tmp_path, rtol=1e-4, atol=1e-4)


def test_run_takes_the_images_sides(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 200, 120), dtype=np.float32))
    code, out = cli("run", "mobilenet_v3_small", "--input", str(tmp_path / "x.npy"))
    assert code == 0, out
    assert "output: 1×1000" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("224x0", "positive whole number"),
        ("224x160x3", "whole number or HxW"),
        ("x160", "whole number or HxW"),
        ("224x16.5", "positive whole number"),
    ],
)
def test_bad_sides_are_one_line_errors(text: str, message: str) -> None:
    code, out = cli("report", "mobilenet_v1", "--res", text)
    assert code == 2 and out.count("\n") == 1 and message in out, out


def test_a_sweep_takes_one_aspect_and_lists_each_width() -> None:
    code, out = cli("sweep", "mobilenet_v1", "--alpha", "0.5,1", "--res", "224x160,448x320,100")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["alpha"], r["resolution"], r["width"]) for r in rows] == [
        (a, h, w) for a in ("0.5", "1") for h, w in (("224", "160"), ("448", "320"), ("100", "71"))
    ]
    report = {r["resolution"]: r["macs"] for r in rows if r["alpha"] == "1"}
    assert report["224"] == str(macs_at("mobilenet_v1", "224x160"))  # the report's count at 224x160
    code, out = cli("sweep", "mobilenet_v1", "--res", "224x160,224x100")
    assert code == 2 and "one aspect" in out, out


def test_solve_at_a_non_square_resolution() -> None:
    code, out = cli("solve", "mobilenet_v1", "--max-macs", "300M", "--res", "224x160", "--format", "json")
    assert code == 0, out
    found = json.loads(out)
    assert found["free"] == "alpha" and found["input_size"] == [224, 160]
    alpha = found["value"]
    shaped = PointOptions(resolution="224x160").reshape(load_model("mobilenet_v1"))
    fits = shaped.costs(shaped.point(alpha=alpha, resolution="224x160")).macs
    over = shaped.costs(shaped.point(alpha=str(Fraction(alpha) + Fraction(1, 1000)), resolution="224x160")).macs
    assert fits <= 300_000_000 < over


def test_ranges_take_square_sides() -> None:
    code, out = cli("table", "mobilenet_v1", "--res", "96:224:32x160")
    assert code == 2 and out.count("\n") == 1, out


def test_input_sides() -> None:
    assert input_sides("224") == (224, None)
    assert input_sides("224x224") == (224, 224)
    assert input_sides(" 224 × 160 ") == (224, 160)
    assert input_sides((224, 160)) == (224, 160)


def test_too_small_names_the_minimum_of_the_same_aspect() -> None:
    code, out = cli("report", "squeezenet1_0", "--res", "300x20")
    assert code == 2 and out.count("\n") == 1, out
    assert "layer 'pool8'" in out and "resolution 300x20 is below the minimum 308x21" in out
