"""The command line on good input: every command, every format, the JSON interface of DESIGN.md."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy
from click.testing import CliRunner, Result

from costmodel import forms
from costmodel.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
BUILTINS = sorted(p.stem for p in SPECS.glob("*.yaml"))
REQUIRED_BUILTINS = {"alexnet", "mobilenet_v1", "squeezenet1_0", "squeezenet1_1"}
FORMATS = ("table", "md", "html", "json")
COUNTINGS = ("torchvision", "keras", "paper", "weights", "folded")

# MobileNet v1 at alpha = 0.75, 192x192 (paper Table 10 prints 239 M): the exact count.
MOBILENET_075_192_MACS = 239_273_472
MOBILENET_DEFAULT_MACS = 568_740_352  # alpha = 1, 224x224, conv + FC (paper Table 6 prints 569 M)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.exception is None, repr(result.exception)
    return result


def report_json(*args: str) -> dict[str, Any]:
    return json.loads(ok("report", *args, "--format", "json").stdout)


def walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every leaf of a JSON value with its path."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in walk(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in walk(item, f"{path}[{i}]")]
    return [(path, value)]


# -- report --format json: the stable interface ------------------------------------------------------


@pytest.fixture(scope="module")
def mobilenet_075_192() -> dict[str, Any]:
    return report_json("mobilenet", "--alpha", "0.75", "--res", "192")


def test_report_json_has_the_documented_keys(mobilenet_075_192: dict[str, Any]) -> None:
    data = mobilenet_075_192
    required = {
        "model",
        "alpha",
        "rho",
        "resolution",
        "symbols",
        "params",
        "macs",
        "params_breakdown",
        "model_size_bytes",
        "activations",
        "conventions",
        "layers",
        "min_resolution",
        "other_ops",
        "by_op_type",
    }
    assert required <= data.keys(), required - data.keys()
    assert set(data["params_breakdown"]) == {"weights", "biases", "norm_affine", "norm_stats"}
    assert set(data["model_size_bytes"]) == {"float32", "float16", "int8"}
    assert set(data["activations"]) == {"peak_bytes", "total_bytes"}
    assert {"macs", "params"} <= data["conventions"].keys()
    assert all(isinstance(v, str) and v for v in data["conventions"].values())
    assert data["layers"], "no layers"
    for layer in data["layers"]:
        assert {"name", "op", "input_shape", "output_shape", "params", "macs"} <= layer.keys(), layer


def test_report_json_values(mobilenet_075_192: dict[str, Any]) -> None:
    data = mobilenet_075_192
    assert data["model"] == "mobilenet_v1"
    assert data["macs"] == MOBILENET_075_192_MACS
    assert data["resolution"] == 192
    assert data["alpha"] == 0.75
    assert data["rho"] == pytest.approx(192 / 224)
    assert data["symbols"] == {"num_classes": 1000}
    layers = data["layers"]
    assert data["params"] == sum(layer["params"] for layer in layers)
    assert data["macs"] == sum(layer["macs"] for layer in layers)
    assert data["other_ops"] == sum(layer["other_ops"] for layer in layers if "other_ops" in layer)
    assert data["model_size_bytes"] == {
        "float32": 4 * data["params"],
        "float16": 2 * data["params"],
        "int8": data["params"],
    }
    by_type = data["by_op_type"].values()
    assert sum(row["params"] for row in by_type) == data["params"]
    assert sum(row["macs"] for row in by_type) == data["macs"]
    assert sum(row["layers"] for row in by_type) == len(layers)
    # The default convention counts weights, biases and batch-norm gamma/beta, not running statistics.
    breakdown = data["params_breakdown"]
    assert breakdown["weights"] + breakdown["biases"] + breakdown["norm_affine"] == data["params"]
    assert breakdown["norm_stats"] == breakdown["norm_affine"] > 0
    assert 0 < data["activations"]["peak_bytes"] <= data["activations"]["total_bytes"]
    assert data["min_resolution"] == 1  # TF 'SAME' padding never runs out of pixels


def test_report_json_layers(mobilenet_075_192: dict[str, Any]) -> None:
    layers = mobilenet_075_192["layers"]
    first = layers[0]
    assert first["name"] == "conv1.conv"
    assert first["op"] == "conv2d"
    assert first["input_shape"] == [3, 192, 192]
    assert first["output_shape"] == [24, 96, 96]  # max(floor(32 * 0.75), 8) = 24, stride 2, SAME
    assert first["params"] == 24 * 3 * 3 * 3
    assert first["macs"] == 24 * 96 * 96 * 3 * 3 * 3
    names = [layer["name"] for layer in layers]
    assert len(names) == len(set(names)), "layer names must be unique"
    assert names[-1] == "fc"
    assert layers[-1]["output_shape"] == [1000]
    # Each layer reads what the layer before it wrote (MobileNet v1 is a plain chain).
    for before, after in itertools.pairwise(layers):
        assert after["input_shape"] == before["output_shape"], (before["name"], after["name"])


def test_report_json_integers_are_ints(mobilenet_075_192: dict[str, Any]) -> None:
    leaves = walk(
        {k: v for k, v in mobilenet_075_192.items() if k not in ("alpha", "rho", "accuracy")}
    )  # counts, not published %
    floats = [(path, value) for path, value in leaves if isinstance(value, float) and "share" not in path]
    assert not floats, floats
    for key in ("params", "macs", "resolution", "min_resolution", "other_ops"):
        assert type(mobilenet_075_192[key]) is int, key
    for layer in mobilenet_075_192["layers"]:
        assert type(layer["params"]) is int and type(layer["macs"]) is int, layer
        assert all(type(v) is int for v in layer["input_shape"] + layer["output_shape"]), layer


def test_report_json_text_has_no_float_literals_for_counts() -> None:
    text = ok("report", "squeezenet", "--format", "json").stdout
    # "params": 1248424, never 1248424.0 or 1.248424e6
    assert re.search(r'"params": 1248424,', text), text[:500]
    assert re.search(r'"macs": \d+,', text)
    assert not re.search(r'"(params|macs|resolution)": [0-9.]+e', text)


# -- every format of every built-in model ---------------------------------------------------------


@pytest.fixture(scope="module")
def default_reports() -> dict[str, dict[str, Any]]:
    return {name: report_json(name) for name in BUILTINS}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("model", BUILTINS)
def test_report_every_format(model: str, fmt: str, default_reports: dict[str, dict[str, Any]]) -> None:
    data = default_reports[model]
    text = ok("report", model, "--format", fmt).stdout
    assert text.endswith("\n")
    if fmt == "json":
        assert json.loads(text) == data
        return
    # Every text format says the same as the JSON: the totals (with thousands separators), every block,
    # and in HTML (where blocks open into their layers) every layer.
    assert f"{data['params']:,}" in text, f"params {data['params']:,} missing"
    assert f"{data['macs']:,}" in text, f"macs {data['macs']:,} missing"
    for row in data["layers"] if fmt == "html" else data["blocks"]:
        assert row["name"] in text, row["name"]
    if fmt == "md":
        assert text.startswith("# ")
        assert "|---|" in text
    if fmt == "html":
        assert text.lstrip().lower().startswith("<!doctype html>")
        assert text.rstrip().endswith("</html>")
        assert "<table>" in text


def test_report_table_uses_thousands_separators() -> None:
    text = ok("report", "mobilenet").stdout
    assert "568,740,352" in text
    assert "4,231,976" in text
    assert "568740352" not in text
    # The per-block rows too: conv1 of MobileNet v1 at 224 has 10,838,016 MACs.
    assert re.search(r"^conv1\s.*\b10,838,016\b", text, re.MULTILINE), text[:800]


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_output_file_equals_stdout(fmt: str, tmp_path: Path) -> None:
    args = ("report", "squeezenet1_1", "--set", "sr=0.25", "--no-charts", "--format", fmt)  # .md: no chart files
    stdout = ok(*args).stdout
    target = tmp_path / f"report.{fmt}"
    written = ok(*args, "-o", str(target))
    assert written.stdout == ""
    assert target.read_text(encoding="utf-8") == stdout
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "temporary files left behind"


@pytest.mark.parametrize("command", [("report", "squeezenet1_1", "--format", "json"), ("table", "squeezenet1_1")])
def test_dash_as_output_is_stdout(command: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o -`` prints, as without -o, and leaves no file named '-'."""
    monkeypatch.chdir(tmp_path)
    assert ok(*command, "-o", "-").stdout == ok(*command).stdout
    assert list(tmp_path.iterdir()) == []


def test_report_output_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("x" * 10**6)
    ok("report", "alexnet", "--format", "json", "-o", str(target))
    assert json.loads(target.read_text())["model"] == "alexnet"


# -- naming the model ----------------------------------------------------------------------------


@pytest.mark.parametrize(("alias", "target"), [("mobilenet", "mobilenet_v1"), ("squeezenet", "squeezenet1_0")])
def test_aliases(alias: str, target: str) -> None:
    assert report_json(alias) == report_json(target)
    assert report_json(alias)["model"] == target


def test_spec_by_path_from_another_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "specs_elsewhere" / "my_mobilenet.yaml"
    copy.parent.mkdir()
    shutil.copy(SPECS / "mobilenet_v1.yaml", copy)
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    builtin = report_json("mobilenet", "--alpha", "0.5", "--res", "160")
    by_absolute = report_json(str(copy), "--alpha", "0.5", "--res", "160")
    by_relative = report_json("../specs_elsewhere/my_mobilenet.yaml", "--alpha", "0.5", "--res", "160")
    assert by_absolute == builtin
    assert by_relative == builtin
    assert list(cwd.iterdir()) == []


# -- point options --------------------------------------------------------------------------------


def test_rho_and_res_are_equivalent() -> None:
    by_res = report_json("mobilenet", "--res", "192")
    by_rho = report_json("mobilenet", "--rho", "0.857142857")
    assert by_rho == by_res
    assert by_res["resolution"] == 192
    assert by_res["layers"][0]["input_shape"] == [3, 192, 192]


@pytest.mark.parametrize(
    ("model", "args", "resolution"),
    [
        ("mobilenet", ("--res", "224"), 224),
        ("mobilenet", ("--rho", "1"), 224),
        ("mobilenet", ("--rho", "0.5"), 112),
        ("mobilenet", ("--res", "128"), 128),
        ("squeezenet1_1", ("--res", "17"), 17),  # torchvision's minimum input for squeezenet1_1
        ("alexnet", ("--res", "63"), 63),
    ],
)
def test_resolution_options(model: str, args: tuple[str, ...], resolution: int) -> None:
    data = report_json(model, *args)
    assert data["resolution"] == resolution
    assert data["layers"][0]["input_shape"][1:] == [resolution, resolution]


def test_classes() -> None:
    default = report_json("mobilenet")
    ten = report_json("mobilenet", "--classes", "10")
    assert ten["symbols"]["num_classes"] == 10
    assert ten["layers"][-1]["output_shape"] == [10]
    # The classifier is 1024 -> num_classes with a bias; nothing else changes.
    assert default["params"] - ten["params"] == 990 * (1024 + 1)
    assert default["macs"] - ten["macs"] == 990 * 1024


def test_set_changes_squeezenet() -> None:
    default = report_json("squeezenet")
    wider = report_json("squeezenet", "--set", "sr=0.25")
    assert default["symbols"]["sr"] == 0.125
    assert wider["symbols"]["sr"] == 0.25
    assert wider["params"] > default["params"]
    assert wider["macs"] > default["macs"]
    # The squeeze layer of fire2 has floor(sr * 128) filters.
    squeeze = {layer["name"]: layer for layer in wider["layers"]}["fire2.squeeze"]
    assert squeeze["output_shape"][0] == 32
    assert {layer["name"]: layer for layer in default["layers"]}["fire2.squeeze"]["output_shape"][0] == 16


def test_several_sets_and_classes_combine() -> None:
    data = report_json("squeezenet", "--set", "sr=0.25", "--set", "pct3x3=0.75", "--classes", "10")
    assert data["symbols"]["sr"] == 0.25
    assert data["symbols"]["pct3x3"] == 0.75
    assert data["symbols"]["num_classes"] == 10
    names = {layer["name"]: layer for layer in data["layers"]}
    assert names["fire2.expand3x3"]["output_shape"][0] == 96  # floor(0.75 * 128)
    assert names["fire2.expand1x1"]["output_shape"][0] == 32


def test_counting_presets_change_params_not_macs() -> None:
    reports = {c: report_json("mobilenet", "--counting", c) for c in COUNTINGS}
    macs = {c: r["macs"] for c, r in reports.items()}
    params = {c: r["params"] for c, r in reports.items()}
    assert set(macs.values()) == {MOBILENET_DEFAULT_MACS}, macs
    assert len(set(params.values())) == len(COUNTINGS), params
    kinds = reports["torchvision"]["params_breakdown"]
    assert params["weights"] == kinds["weights"]
    assert params["paper"] == kinds["weights"] + kinds["biases"]
    assert params["torchvision"] == params["paper"] + kinds["norm_affine"]
    assert params["keras"] == params["torchvision"] + kinds["norm_stats"]
    # Folding a batch norm into its conv leaves one bias per channel: half of gamma/beta.
    assert params["folded"] == params["paper"] + kinds["norm_affine"] // 2
    assert params["paper"] == 4_210_088  # exact recount of the paper's Table 1 (weights + biases)
    assert params["torchvision"] == 4_231_976  # Keras model.summary(), trainable
    assert params["keras"] == 4_253_864  # Keras model.summary(), total
    for c, r in reports.items():
        assert r["conventions"]["counting"] == c


def test_counting_shows_in_every_format() -> None:
    table = ok("report", "mobilenet", "--counting", "paper").stdout
    assert "4,210,088" in table
    assert "4,231,976" not in table


# -- expr -----------------------------------------------------------------------------------------

ALPHA, RHO, NUM_CLASSES = sympy.Symbol("alpha"), sympy.Symbol("rho"), sympy.Symbol("num_classes")


def expr_json(*args: str) -> dict[str, Any]:
    return json.loads(ok("expr", *args, "--format", "json").stdout)


def at(
    expression: str,
    alpha: sympy.Rational,
    resolution: int,
    classes: int = 1000,
    definitions: dict[str, str] | None = None,
) -> sympy.Expr:
    """A closed form read back from its JSON text, at a point (exact rationals, no floats); an
    expression in named quantities takes the JSON's definitions, in their order."""
    values: dict[Any, Any] = {ALPHA: alpha, RHO: sympy.Rational(resolution, 224), NUM_CLASSES: classes}
    for name, definition in (definitions or {}).items():
        values[sympy.Symbol(name)] = sympy.sympify(definition, locals=forms.sympify_locals()).subs(values)
    return sympy.sympify(expression, locals=forms.sympify_locals()).subs(values)


def test_expr_json_reads_back() -> None:
    data = expr_json("mobilenet", "--metric", "macs")
    assert data["model"] == "mobilenet_v1"
    assert data["metric"] == "macs"
    assert data["symbols"] == {"alpha": 1, "rho": 1, "num_classes": 1000}
    assert all(type(v) is int for v in data["symbols"].values())
    value = sympy.sympify(data["expression"]).subs(
        {ALPHA: sympy.Rational(3, 4), RHO: sympy.Rational(192, 224), NUM_CLASSES: 1000}
    )
    assert value == MOBILENET_075_192_MACS
    assert {str(s) for s in sympy.sympify(data["expression"]).free_symbols} == {"alpha", "rho", "num_classes"}


@pytest.mark.parametrize(
    ("alpha", "resolution", "classes"),
    [("1", 224, 1000), ("0.75", 192, 1000), ("0.5", 160, 10), ("0.25", 128, 1000), ("0.1", 96, 3), ("1.3", 250, 1)],
)
def test_expr_equals_report(alpha: str, resolution: int, classes: int) -> None:
    macs = expr_json("mobilenet", "--metric", "macs")["expression"]
    params = expr_json("mobilenet", "--metric", "params")["expression"]
    data = report_json("mobilenet", "--alpha", alpha, "--res", str(resolution), "--classes", str(classes))
    a = sympy.Rational(alpha)
    assert at(macs, a, resolution, classes) == data["macs"]
    assert at(params, a, resolution, classes) == data["params"]


def test_expr_with_fixed_point() -> None:
    data = expr_json("mobilenet", "--alpha", "0.75", "--res", "192")
    assert data["fixed"]["alpha"] == 0.75
    expression = sympy.sympify(data["expression"])
    assert {str(s) for s in expression.free_symbols} == {"num_classes"}
    assert expression.subs(NUM_CLASSES, 1000) == MOBILENET_075_192_MACS


def test_expr_flops_are_twice_macs() -> None:
    macs = sympy.sympify(expr_json("mobilenet", "--metric", "macs")["expression"])
    flops = sympy.sympify(expr_json("mobilenet", "--metric", "flops")["expression"])
    point = {ALPHA: sympy.Rational(1, 2), RHO: sympy.Rational(160, 224), NUM_CLASSES: 1000}
    assert flops.subs(point) == 2 * macs.subs(point)


def test_expr_smooth_shows_the_scaling_law() -> None:
    text = ok("expr", "mobilenet", "--smooth").stdout
    assert "alpha**2*rho**2" in text
    assert "floor" not in text and "Max" not in text and "ceiling" not in text


def test_expr_per_layer_lists_layers() -> None:
    text = ok("expr", "mobilenet", "--per-layer").stdout
    report = report_json("mobilenet")
    with_macs = [layer["name"] for layer in report["layers"] if layer["macs"]]
    listed = re.findall(r"^\s*([\w.]+): ", text, re.MULTILINE)
    assert listed[-1] == "symbols"  # the closing "symbols: alpha (default 1), ..." line
    assert listed[:-1] == with_macs
    data = expr_json("mobilenet", "--per-layer")
    by_name = {layer["name"]: layer for layer in report["layers"]}
    for name, expression in data["parts"].items():
        assert at(expression, sympy.Integer(1), 224, definitions=data["definitions"]) == by_name[name]["macs"], name


def test_expr_per_type() -> None:
    data = expr_json("mobilenet", "--per-type")
    report = report_json("mobilenet")
    for label, expression in data["parts"].items():
        value = at(expression, sympy.Integer(1), 224, definitions=data["definitions"])
        assert value == report["by_op_type"][label]["macs"], label


def test_expr_latex() -> None:
    text = ok("expr", "mobilenet", "--format", "latex").stdout
    assert "\\alpha" in text
    assert "\\left\\lfloor" in text


def test_expr_squeezenet_params() -> None:
    data = expr_json("squeezenet", "--metric", "params")
    value = sympy.sympify(data["expression"]).subs(
        {sympy.Symbol(k): sympy.nsimplify(v) for k, v in data["symbols"].items()}
    )
    assert value == 1_248_424  # torchvision num_params


# -- list, check, python -m -----------------------------------------------------------------------


def test_list_table() -> None:
    text = ok("list").stdout
    for name in REQUIRED_BUILTINS:
        assert re.search(rf"^{name}\s", text, re.MULTILINE), name
    assert re.search(r"^mobilenet_v1\s.*\bmobilenet\b", text, re.MULTILINE)
    assert re.search(r"^squeezenet1_0\s.*\bsqueezenet\b", text, re.MULTILINE)


def test_list_json() -> None:
    rows = json.loads(ok("list", "--format", "json").stdout)
    names = [row["model"] for row in rows]
    assert set(names) >= REQUIRED_BUILTINS
    assert names == BUILTINS
    by_name = {row["model"]: row for row in rows}
    assert "mobilenet" in by_name["mobilenet_v1"]["aliases"]
    assert "alpha" in by_name["mobilenet_v1"]["symbols"]
    assert "sr" in by_name["squeezenet1_0"]["symbols"]


def test_check_passes() -> None:
    lines = ok("check").stdout.splitlines()
    match = re.fullmatch(r"(\d+) passed, 0 failed", lines[-1])
    assert match, lines[-1]
    passed = int(match.group(1))
    assert passed > 0
    assert passed == sum(line.startswith("ok ") for line in lines)
    assert not any(line.startswith("FAIL") for line in lines)


def test_check_one_spec_by_path(tmp_path: Path) -> None:
    copy = tmp_path / "squeeze.yaml"
    shutil.copy(SPECS / "squeezenet1_0.yaml", copy)
    lines = ok("check", str(copy)).stdout.splitlines()
    assert re.fullmatch(r"\d+ passed, 0 failed", lines[-1]), lines[-1]
    assert all(str(copy) in line for line in lines[:-1] if line.startswith("ok"))


def test_check_reports_a_failing_row(tmp_path: Path) -> None:
    text = (SPECS / "alexnet.yaml").read_text().replace("params: 61100840", "params: 61100841")
    spec = tmp_path / "alexnet_wrong.yaml"
    spec.write_text(text)
    result = run("check", str(spec))
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-1].endswith("1 failed")
    assert any(line.startswith("FAIL") and "params" in line for line in result.stdout.splitlines())


def test_python_dash_m(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "costmodel", "report", "mobilenet", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert json.loads(completed.stdout)["macs"] == MOBILENET_DEFAULT_MACS


# -- -o FILE: the format from the extension, a normal file's permissions ----------------------------

REPORT_EXTENSIONS = {".txt": "table", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".json": "json"}
TABLE_EXTENSIONS = {**REPORT_EXTENSIONS, ".csv": "csv", ".tex": "latex"}
REPORT_ARGS = ("report", "squeezenet1_1", "--set", "sr=0.25", "--no-charts")  # an .md file gets chart files
TABLE_ARGS = ("table", "mobilenet", "--alpha", "0.5,1.0")


@pytest.mark.parametrize(
    ("args", "suffix", "fmt"),
    [(REPORT_ARGS, s, f) for s, f in REPORT_EXTENSIONS.items()]
    + [(TABLE_ARGS, s, f) for s, f in TABLE_EXTENSIONS.items()],
)
def test_the_format_from_the_extension(args: tuple[str, ...], suffix: str, fmt: str, tmp_path: Path) -> None:
    target = tmp_path / f"{args[0]}{suffix}"
    assert ok(*args, "-o", str(target)).stdout == ""
    assert target.read_text(encoding="utf-8") == ok(*args, "--format", fmt).stdout


def test_extension_case_does_not_matter(tmp_path: Path) -> None:
    target = tmp_path / "REPORT.HTML"
    ok(*REPORT_ARGS, "-o", str(target))
    assert target.read_text(encoding="utf-8") == ok(*REPORT_ARGS, "--format", "html").stdout


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (REPORT_ARGS, "report"),  # no extension
        (REPORT_ARGS, "report.dat"),  # an unknown one
        (REPORT_ARGS, "report.csv"),  # a table format that report does not have
        (REPORT_ARGS, "report.tex"),
        (TABLE_ARGS, "table.out"),
    ],
)
def test_unknown_extension_keeps_the_default_format(args: tuple[str, ...], name: str, tmp_path: Path) -> None:
    target = tmp_path / name
    ok(*args, "-o", str(target))
    assert target.read_text(encoding="utf-8") == ok(*args, "--format", "table").stdout == ok(*args).stdout


@pytest.mark.parametrize(
    ("args", "name", "fmt"),
    [
        (REPORT_ARGS, "report.csv", "json"),  # .csv means nothing to report: --format decides
        (REPORT_ARGS, "report.htm", "html"),  # agrees with the extension
        (TABLE_ARGS, "table.txt", "table"),
        (TABLE_ARGS, "table.dat", "latex"),
    ],
)
def test_format_that_agrees_with_or_overrides_an_unknown_extension(
    args: tuple[str, ...], name: str, fmt: str, tmp_path: Path
) -> None:
    target = tmp_path / name
    ok(*args, "--format", fmt, "-o", str(target))
    assert target.read_text(encoding="utf-8") == ok(*args, "--format", fmt).stdout


@pytest.mark.parametrize(
    ("args", "fmt", "name"),
    [
        (REPORT_ARGS, "md", "report.html"),
        (REPORT_ARGS, "table", "report.json"),
        (REPORT_ARGS, "json", "report.txt"),
        (TABLE_ARGS, "csv", "table.json"),
        (TABLE_ARGS, "latex", "table.md"),
        (TABLE_ARGS, "html", "table.csv"),
    ],
)
def test_format_contradicting_the_extension_is_an_error(
    args: tuple[str, ...], fmt: str, name: str, tmp_path: Path
) -> None:
    target = tmp_path / name
    result = run(*args, "--format", fmt, "-o", str(target))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: --format "), lines[0]
    assert f"--format {fmt} " in lines[0] and name in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == [], "nothing is written"


def test_format_contradiction_leaves_an_existing_file_alone(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("before")
    assert run(*REPORT_ARGS, "--format", "json", "-o", str(target)).exit_code == 2
    assert target.read_text() == "before"


@pytest.mark.parametrize("command", ["report", "table"])
def test_format_help_still_shows_the_default(command: str) -> None:
    text = ok(command, "--help").stdout
    assert re.search(r"--format \[[a-z|]+\]\s+\[default: table\]", text), text
    assert re.search(r"\[default:\s+torchvision\]", text), text


@pytest.fixture(params=[0o022, 0o027, 0o002], ids=lambda mask: f"umask-{mask:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under this umask, and restore the one before."""
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("args", "name"), [(REPORT_ARGS, "report.md"), (TABLE_ARGS, "table.csv")])
def test_output_files_have_normal_permissions(args: tuple[str, ...], name: str, umask: int, tmp_path: Path) -> None:
    target = tmp_path / name
    ok(*args, "-o", str(target))
    assert mode(target) == 0o666 & ~umask


def test_run_output_has_normal_permissions(umask: int, tmp_path: Path) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((3, 64, 64)).astype(np.float32))
    target = tmp_path / "y.npy"
    ok("run", "squeezenet1_1", "--input", str(x), "-o", str(target))
    assert mode(target) == 0o666 & ~umask
    assert np.load(target).shape == (1, 1000, 1, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"], "temporary files left behind"


def test_replacing_a_file_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("before")
    target.chmod(0o640)
    ok(*REPORT_ARGS, "-o", str(target))
    assert mode(target) == 0o640
    assert target.read_text(encoding="utf-8") == ok(*REPORT_ARGS).stdout
