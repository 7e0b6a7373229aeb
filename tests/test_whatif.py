"""whatif, compare, sensitivity, sweep and layer against the reports' own numbers and the papers."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from costmodel import load_model
from costmodel.cli import main
from costmodel.rewrite import apply
from costmodel.sensitivity import elasticities


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def report(*args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run("report", *args, "--format", "json").stdout)
    return data


# -- whatif -----------------------------------------------------------------------------------------


def test_mobilenet_with_full_convolutions_is_the_papers_table_4() -> None:
    """Table 4: Conv MobileNet 4866 M Mult-Adds and 29.3 M parameters, against 569 M and 4.2 M."""
    model = load_model("mobilenet_v1")
    full = apply(model, "full_conv").after
    costs = full.costs(full.default_point(), "paper")
    assert abs(costs.macs - 4866e6) / 4866e6 < 0.001  # 4,867,293,184: the printed 4866 M within 0.03 %
    assert round(costs.params / 1e6, 1) == 29.3
    original = model.costs(model.default_point(), "paper")
    assert round(original.macs / 1e6) == 569 and round(original.params / 1e6, 1) == 4.2


def test_full_conv_then_separable_gives_mobilenet_back() -> None:
    model = load_model("mobilenet_v1")
    full = apply(model, "full_conv").after
    back = apply(full, "separable", ["dw_*"]).after  # the merged layers, not the stem
    for counting in ("paper", "torchvision"):
        a, b = model.costs(model.default_point(), counting), back.costs(back.default_point(), counting)
        assert (a.params, a.macs) == (b.params, b.macs)


def test_separable_then_full_conv_gives_alexnet_back() -> None:
    model = load_model("alexnet")
    separable = apply(model, "separable").after
    assert separable.costs().macs < model.costs().macs / 5
    back = apply(separable, "full_conv").after
    assert (back.costs().params, back.costs().macs) == (model.costs().params, model.costs().macs)


def test_a_global_pooling_head_on_alexnet() -> None:
    model = load_model("alexnet")
    after = apply(model, "gap_head").after
    features = sum(layer.params for layer in model.costs().layers if layer.label != "fc")
    assert after.costs().params == features + 256 * 1000 + 1000  # a 1x1 conv 256 -> 1000 with bias
    assert "fc" not in after.costs().by_op_type()


@pytest.mark.parametrize(
    ("model", "trick"),
    [
        ("mobilenet_v1", "--full-conv"),
        ("alexnet", "--separable"),
        ("alexnet", "--gap-head"),
        ("alexnet", "--fire=0.125,0.5"),
        ("mobilenet_v3_small", "--full-conv"),
        ("squeezenet1_1", "--separable"),
    ],
)
def test_every_written_spec_passes_check_and_verify(tmp_path: Path, model: str, trick: str) -> None:
    path = tmp_path / "new.yaml"
    run("whatif", model, trick, "-o", str(path))
    run("check", str(path))
    new = load_model(path)
    side = str(max(new.min_resolution() or 1, 64)) if new.base_resolution is not None else None
    run("verify", str(path), *(("--res", side) if side else ()))
    if new.roles.width is not None:  # the symbols survive: the new spec takes another alpha
        run("verify", str(path), "--alpha", "0.5", *(("--res", side) if side else ()))


def test_whatif_works_on_an_onnx_file() -> None:
    data = Path(__file__).resolve().parent / "data" / "mobilenet_v2_mini.onnx"
    pytest.importorskip("onnx")
    text = run("whatif", str(data), "--full-conv").stdout
    assert "after / before" in text


# -- compare ---------------------------------------------------------------------------------------------


def compare_totals(*configs: str) -> dict[str, dict[str, Any]]:
    data = json.loads(run("compare", *configs, "--format", "json").stdout)
    return {row["metric"]: row for row in data["totals"]}


def test_compare_ratios_are_the_reports_ratios() -> None:
    totals = compare_totals("alexnet", "mobilenet_v1@alpha=0.5,res=160")
    alexnet, small = report("alexnet"), report("mobilenet_v1", "--alpha", "0.5", "--res", "160")
    ratio = totals["params"]["× mobilenet_v1@alpha=0.5,res=160"]
    assert ratio == pytest.approx(small["params"] / alexnet["params"], rel=1e-12)
    assert totals["macs"]["mobilenet_v1@alpha=0.5,res=160"] == small["macs"]


def test_the_seeds_claims_in_one_line() -> None:
    squeeze = compare_totals("squeezenet1_0", "alexnet")["params"]["× alexnet"]
    assert 45 < squeeze < 55  # SqueezeNet: about 50x fewer parameters than AlexNet
    totals = compare_totals("alexnet", "mobilenet_v1@alpha=0.5,res=160")
    assert 44 < 1 / totals["size"]["× mobilenet_v1@alpha=0.5,res=160"] < 47  # about 45x smaller
    assert 9.0 < 1 / totals["macs"]["× mobilenet_v1@alpha=0.5,res=160"] < 9.6  # 9.4x less compute


# -- sensitivity ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "side"), [("mobilenet_v1", 160), ("mobilenet_v2", 192), ("squeezenet1_0", 224)])
def test_elasticities_are_the_finite_differences_of_the_law_and_of_the_counts(name: str, side: int) -> None:
    from costmodel import symbolic

    model = load_model(name)
    point = model.point(resolution=side)
    found = elasticities(model, point)
    for e in found:
        symbol_name = model.roles.width if e.symbol == "alpha" else model.roles.resolution
        if e.smooth is not None:  # the law's derivative, against a small central difference of the law
            law = symbolic.smooth(model, "params" if e.metric == "size" else e.metric, at=point)
            s = model.sympy_symbols[symbol_name]
            values = model.substitution(point)
            here = values[s]
            h = Fraction(1, 10**6)
            up = law.xreplace({**values, s: here * (1 + h)})
            down = law.xreplace({**values, s: here * (1 - h)})
            numeric = (float(up) - float(down)) / (2 * float(h) * float(law.xreplace(values))) if float(up) else 0.0
            assert e.smooth == pytest.approx(numeric, abs=1e-6), e
        # the exact ratio is the counts' own
        low = {"alpha": str(point.values[symbol_name] * Fraction(9, 10))} if e.symbol == "alpha" else {}
        if e.symbol == "alpha":
            a = model.costs(model.point(alpha=low["alpha"], resolution=side))
            b = model.costs(model.point(alpha=str(point.values[symbol_name] * Fraction(11, 10)), resolution=side))
            if e.metric in ("macs", "params"):
                assert e.ratio == Fraction(getattr(b, e.metric), getattr(a, e.metric))
        if e.symbol == "resolution" and e.metric in ("params", "size"):
            assert e.smooth == 0 and e.exact == 0  # weights do not depend on the input side
    macs = {e.symbol: e for e in found if e.metric == "macs"}
    assert 1.7 < macs["resolution"].exact < 2.2 and 1.7 < macs["resolution"].smooth < 2.2  # about rho squared


def test_where_widths_do_not_snap_to_multiples_of_8_the_law_and_the_counts_agree() -> None:
    model = load_model("mobilenet_v1")
    for e in elasticities(model, model.point(resolution=160)):
        if e.smooth is not None:
            assert abs(e.smooth - e.exact) < 0.1, e


# -- sweep ----------------------------------------------------------------------------------------------


def test_a_sweep_is_the_counts_at_every_point() -> None:
    text = run(
        "sweep",
        "mobilenet_v2",
        "--alpha",
        "0.35,0.5:1:0.25",
        "--res",
        "96:160:32",
        "--metrics",
        "macs,params,peak_memory",
    ).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["alpha"], r["resolution"]) for r in rows[:4]] == [
        ("0.35", "96"),
        ("0.35", "128"),
        ("0.35", "160"),
        ("0.5", "96"),
    ]
    assert len(rows) == 4 * 3
    model = load_model("mobilenet_v2")
    from costmodel.costs import activation_memory

    for row in rows:
        costs = model.costs(model.point(alpha=row["alpha"], resolution=row["resolution"]))
        assert int(row["macs"]) == costs.macs and int(row["params"]) == costs.params
        assert int(row["peak_memory"]) == activation_memory(costs)["peak_bytes"]


def test_a_sweep_as_json_and_a_fraction_grid() -> None:
    data = json.loads(run("sweep", "mobilenet", "--alpha", "1/3:1:1/3", "--res", "224", "--format", "json").stdout)
    assert [r["alpha"] for r in data] == ["1/3", "2/3", "1"]
    model = load_model("mobilenet")
    assert data[-1]["macs"] == model.costs().macs


# -- layer ------------------------------------------------------------------------------------------------


def test_one_conv_and_its_separable_version() -> None:
    data = json.loads(run("layer", "conv", "--k", "3", "--cin", "10", "--cout", "5", "--format", "json").stdout)
    standard, separable = data["layers"]
    assert standard["weights"] == 5 * 3 * 3 * 10 == 450
    assert separable["weights"] == 10 * 3 * 3 + 10 * 5 == 140  # one depthwise filter per input channel
    assert Fraction(separable["macs"], standard["macs"]) == Fraction(1, 5) + Fraction(1, 9)
    assert "1/5 + 1/3^2 = 14/45" in data["closed_form"]


def test_a_fire_module_is_squeezenets_own() -> None:
    data = json.loads(
        run(
            "layer",
            "fire",
            "--cin",
            "96",
            "--s1x1",
            "16",
            "--e1x1",
            "64",
            "--e3x3",
            "64",
            "--hw",
            "54",
            "--format",
            "json",
        ).stdout
    )
    squeezenet = load_model("squeezenet1_0")
    assert data["layers"][0]["params"] == squeezenet.costs().prefix_sum("fire2", "params") == 11920


def test_an_inverted_residual() -> None:
    data = json.loads(
        run("layer", "inverted_residual", "--cin", "24", "--t", "6", "--cout", "24", "--format", "json").stdout
    )
    # expand 24 -> 144, depthwise 144, project 144 -> 24, three batch norms (gamma, beta)
    assert data["layers"][0]["params"] == 24 * 144 + 144 * 9 + 144 * 24 + 2 * (144 + 144 + 24)
