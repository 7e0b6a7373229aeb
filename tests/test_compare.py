"""The family view: `costmodel list --details` and `costmodel table`."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction

import pytest
from click.testing import CliRunner
from conftest import REFERENCE_DIR

from costmodel import load_model
from costmodel.cli import main
from costmodel.compare import decimal_text, split_values
from costmodel.resources import builtin_names


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_list_details_shows_every_model_at_its_default_point() -> None:
    rows = json.loads(run("list", "--details", "--format", "json"))
    assert [row["model"] for row in rows] == builtin_names()
    for row in rows:
        model = load_model(row["model"])
        costs = model.costs()
        assert (row["params"], row["macs"]) == (costs.params, costs.macs)
        assert row["min_resolution"] == model.min_resolution()
        assert row["model_size_bytes"]["float32"] == 4 * costs.params
    text = run("list", "--details")
    assert "mobilenet_v3_small" in text and "2,542,856" in text


def test_table_is_the_grid_of_the_given_widths_and_resolutions() -> None:
    rows = json.loads(run("table", "mobilenet_v2", "--alpha", "0.35,0.5,1.0", "--res", "96,224", "--format", "json"))
    assert [(r["alpha"], r["resolution"]) for r in rows] == [
        (0.35, 96),
        (0.35, 224),
        (0.5, 96),
        (0.5, 224),
        (1, 96),
        (1, 224),
    ]
    macs = {(r["alpha"], r["resolution"]): r["macs"] for r in rows}
    assert macs[(1, 224)] == 300774272
    assert macs[(0.35, 96)] < macs[(0.35, 224)] < macs[(1, 224)]


def test_table_leaves_alpha_alone_for_models_without_it() -> None:
    rows = json.loads(run("table", "squeezenet", "mobilenet", "--alpha", "0.5", "--format", "json"))
    assert rows[0]["model"] == "squeezenet1_0" and rows[0]["alpha"] is None and rows[0]["params"] == 1248424
    assert rows[1]["alpha"] == 0.5 and rows[1]["macs"] == 149497088


def test_table_formats_agree() -> None:
    args = ("table", "mobilenet_v1", "--alpha", "0.25,0.75", "--counting", "paper")
    lines = list(csv.DictReader(io.StringIO(run(*args, "--format", "csv"))))
    assert [int(line["MACs"]) for line in lines] == [41030272, 325400448]  # CSV: plain numbers
    assert all(line["top-1 %"] for line in lines) and "—" not in run(*args, "--format", "csv")
    assert "325,400,448" in run(*args, "--format", "md")
    assert "325{,}400{,}448" in run(*args, "--format", "latex")
    page = run(*args, "--format", "html")
    assert '<td class="n">325,400,448</td>' in page and '<meta charset="utf-8">' in page
    assert "325,400,448" in run(*args)


def test_columns_that_never_change_are_left_out() -> None:
    text = run("table", "mobilenet_v1", "--alpha", "0.5,1")
    assert "min input" not in text and "model" not in text  # 1 everywhere; one model
    assert "α" in text


def test_the_papers_tables_6_and_7_from_one_command() -> None:
    """MobileNet paper Table 6 (width) and 7 (resolution), printed in millions after rounding; Table 7's
    160 row prints 290 M where the architecture has 290.7 M (the spec records why: the count without
    the classifier), so it reads 291 here."""
    args = ("table", "mobilenet_v1", "--alpha", "1,0.75,0.5,0.25", "--res", "224,192,160,128", "--pivot")
    args += ("--metrics", "top1,macs,params", "--units", "M", "--source", "Howard", "--counting", "paper")
    text = run(*args, "--format", "csv")
    grids = {}
    for block in text.strip().split("# ")[1:]:
        title, *lines = block.strip().splitlines()
        grids[title.split(": ")[1]] = {row[0]: row[1:] for row in csv.reader(lines[1:])}
    printed = {"top1": grids["top-1 %"], "macs_millions": grids["MACs (M)"], "params_millions": grids["params (M)"]}
    sides = [int(s) for s in args[args.index("--res") + 1].split(",")]
    published = json.loads((REFERENCE_DIR / "published.json").read_text(encoding="utf-8"))
    accuracy = json.loads((REFERENCE_DIR / "accuracy.json").read_text(encoding="utf-8"))
    paper = [r for r in published if r["model"] == "mobilenet_v1" and r["source"].endswith(("Table 6", "Table 7"))]
    paper += [r for r in accuracy if r["model"] == "mobilenet_v1" and r["source"].startswith("Howard")]
    checked = 0
    for row in paper:
        alpha, column = f"{row['alpha']:g}", sides.index(row["resolution"])
        for metric in set(printed) & set(row):
            want = f"{row[metric]:g}"
            if (metric, row["alpha"], row["resolution"]) == ("macs_millions", 1.0, 160):
                want = "291"  # the paper's 290 (see above)
            assert printed[metric][alpha][column] == want, (metric, row)
            checked += 1
    assert checked == 7 * 2 + 8  # Tables 6 and 7: MACs and params of 7 rows; the paper's 8 top-1 figures


def test_table_with_a_variant() -> None:
    rows = json.loads(
        run(
            "table",
            "mobilenet_v3_large",
            "--variant",
            "keras",
            "--alpha",
            "0.75",
            "--counting",
            "paper",
            "--format",
            "json",
        )
    )
    assert rows[0]["variant"] == "keras"
    assert rows[0]["macs"] == 154560624  # the MobileNetV3 paper's 155 M


def test_table_rejects_a_bad_list() -> None:
    result = CliRunner().invoke(main, ["table", "mobilenet", "--alpha", "0.5,,1"])
    assert result.exit_code == 2
    assert "comma-separated" in result.output


@pytest.mark.parametrize(
    "part",
    ["0.1:0.3:0.1", "96:224:32", "0.25:1.5:0.05", "-1:1:0.25", "0.001:0.01:0.003", "1/3:2:1/3", "0.5:0.4:0.1",
     "1e-3:2e-3:5e-4", "0:1:1/8", "-0.05:0.05:0.01", "0.35:0.35:0.1"],
)  # fmt: skip
def test_a_range_writes_each_value_as_decimal_text_does(part: str) -> None:
    """Ranges are written in whole units of their last decimal (100,000 values in hundredths of a
    second); every value is the text the one-by-one exact sum gives."""
    start, stop, step = (Fraction(p) for p in part.split(":"))
    count = max(int((stop - start) / step) + 1, 0)
    expected = [decimal_text(start + k * step) for k in range(count)]
    assert split_values(part, "--alpha") == expected
