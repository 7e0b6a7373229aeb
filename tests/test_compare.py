"""The family view: `costmodel list --details` and `costmodel table`."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner

from costmodel import load_model
from costmodel.cli import main
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
    assert [int(line["macs"]) for line in lines] == [41030272, 325400448]
    assert "325,400,448" in run(*args, "--format", "md")
    assert "325{,}400{,}448" in run(*args, "--format", "latex")
    assert "<td>325,400,448</td>" in run(*args, "--format", "html")
    assert "325,400,448" in run(*args)


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
