"""The report pages: the block view adds up, the Markdown carries its formula and diagram, and the HTML
page works in a real headless browser (Debian's chromium): every section shows, the charts draw, the
table sorts and opens, nothing is fetched and nothing fails."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from costmodel import load_model
from costmodel.cli import main
from costmodel.report import report_context
from costmodel.resources import builtin_names

SECTIONS = ("totals", "charts", "architecture", "formulas", "types", "layers")


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("name", builtin_names())
def test_blocks_add_up_to_the_totals_and_their_shares_to_100(name: str, depth: int) -> None:
    model = load_model(name)
    context = report_context(model, model.default_point(), depth=depth)
    blocks = context["blocks"]
    assert sum(b["params"] for b in blocks) == context["params"]
    assert sum(b["macs"] for b in blocks) == context["macs"]
    assert sum(b["layers"] for b in blocks) == len(context["layers"])
    assert abs(sum(b["macs_share"] for b in blocks) - 100) <= 0.005 * len(blocks) + 1e-9


def test_every_layer_view_is_the_layers() -> None:
    data = json.loads(run("report", "mobilenet_v2", "--layers", "all", "--format", "json").stdout)
    assert data["view"] == "layers" and len(data["blocks"]) < len(data["layers"])
    text = run("report", "mobilenet_v2", "--layers", "all").stdout
    assert "ir2.1.expand.conv" in text


def test_the_terminal_report_fits_100_columns() -> None:
    for name in builtin_names():
        text = run("report", name).stdout
        assert max(len(line) for line in text.splitlines()) <= 100, name


def test_the_markdown_report_has_its_formula_diagram_and_chart_files(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    run("report", "mobilenet_v1", "--format", "md", "-o", str(target))
    text = target.read_text()
    assert "```mermaid" in text and "flowchart LR" in text
    assert "$$" in text and "539492352 \\alpha^{2} \\rho^{2}" in text
    for name in ("blocks", "types", "scaling"):
        svg = tmp_path / f"report_{name}.svg"
        assert svg.is_file() and svg.read_text().lstrip().startswith("<?xml"), name
        assert f"]({svg.name})" in text


@pytest.mark.parametrize(("name", "written_out"), [("mobilenet_v3_large", True), ("efficientnet", False)])
def test_the_exact_form_is_written_out_only_when_a_reader_can_take_it_in(name: str, written_out: bool) -> None:
    from costmodel import symbolic
    from costmodel.page import EXACT_LINES_SHOWN

    form = symbolic.form(load_model(name), "macs", "torchvision")
    quantities = len(form.used([form.body]))
    assert (quantities <= EXACT_LINES_SHOWN) is written_out
    text = run("report", name, "--format", "md", "--no-charts").stdout
    assert ("\\begin{aligned}" in text) is written_out
    assert (f"the form names {quantities} widths" in text) is not written_out
    assert f"`costmodel expr {name}`" in text


def test_the_html_page_is_self_contained() -> None:
    page = run("report", "mobilenet_v3_large", "--format", "html").stdout
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing to fetch
    assert page.count("<svg") >= 3 and "<math" in page and 'class="diagram"' in page
    for section in SECTIONS:
        assert f'<section id="{section}">' in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_the_html_page_in_a_real_browser(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on this machine: .ci/run installs Debian's chromium for this test")
    page = tmp_path / "report.html"
    run("report", "mobilenet_v3_large", "--format", "html", "-o", str(page))
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    url = page.as_uri() + "#selftest"
    done = subprocess.run(
        [browser, *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r'data-selftest="([^"]*)"', done.stdout)
    assert match, f"the page's self-test did not run: {done.stderr[-2000:]}"
    report = json.loads(unescape(match.group(1)))
    assert report["errors"] == [] and "Uncaught" not in done.stderr
    assert report["resources"] == 0  # no network requests
    assert all(entry.endswith(":true") for entry in report["sections"]), report["sections"]
    assert {s.split(":")[0] for s in report["sections"]} >= set(SECTIONS)
    assert report["charts"] and all(report["charts"]), report["charts"]
    assert report["sorted"] and report["expanded"] and report["diagram"] >= 10
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_colour_on_a_terminal_and_never_with_no_color() -> None:
    coloured = CliRunner().invoke(main, ["check", "mobilenet_v1"], color=True).output
    assert "\x1b[" in coloured
    plain = CliRunner(env={"NO_COLOR": "1"}).invoke(main, ["check", "mobilenet_v1"], color=True).output
    assert "\x1b[" not in plain
    assert "\x1b[" not in CliRunner().invoke(main, ["check", "mobilenet_v1"]).output  # piped


def test_model_names_complete_in_the_shell() -> None:
    from costmodel.cli.options import complete_models

    names = [item.value for item in complete_models(None, None, "mobilenet_v")]  # type: ignore[arg-type]
    assert names == ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]


def test_notebooks_show_costs_forms_and_reports() -> None:
    from costmodel import symbolic
    from costmodel.page import Report

    model = load_model("mobilenet_v1")
    costs = model.costs()
    assert "\n" not in repr(costs) and "568,740,352 MACs" in repr(costs)
    assert "<table>" in costs._repr_html_()
    assert symbolic.form(model, "macs")._repr_latex_().startswith("$$\\begin{aligned}")
    report = Report(model)
    assert "\n" not in repr(report)
    assert report._repr_html_().lstrip().startswith("<!DOCTYPE html>")
    assert report.markdown().startswith("# MobileNet v1")


def test_activation_bytes_at_a_chosen_dtype() -> None:
    at32 = json.loads(run("report", "mobilenet_v2", "--res", "160", "--format", "json").stdout)
    at8 = json.loads(
        run("report", "mobilenet_v2", "--res", "160", "--activation-dtype", "int8", "--format", "json").stdout
    )
    assert at32["activations"]["peak_bytes"] == 4 * at8["activations"]["peak_bytes"] == 4_915_200
    assert [4 * b["output_bytes"] for b in at8["blocks"]] == [b["output_bytes"] for b in at32["blocks"]]


def test_charts_drawn_in_a_child_are_the_charts_drawn_here() -> None:
    from costmodel import charts
    from costmodel.render import with_type_rows

    model = load_model("mobilenet_v1")
    point = model.point(values={"alpha": 0.5})
    context = with_type_rows(report_context(model, point, "paper"))
    assert context["by_op_type_rows"]
    curves = charts.scaling_data(model, point, "paper")
    beside = charts.Drawer.start().draw(context["blocks"], context["by_op_type_rows"], lambda: curves)
    here = charts.Drawer().draw(context["blocks"], context["by_op_type_rows"], curves)
    assert set(beside) == {"blocks", "types", "scaling"}
    assert all("<svg" in svg for svg in here.values())
    assert beside == here


def test_without_matplotlib_the_page_says_what_the_charts_would_show(monkeypatch: pytest.MonkeyPatch) -> None:
    from costmodel import charts

    monkeypatch.setattr(charts, "available", lambda: False)
    result = CliRunner().invoke(main, ["report", "squeezenet", "--format", "html"])
    assert result.exit_code == 0, result.output
    assert "need matplotlib" in result.output
    assert "<svg" not in result.output


def test_no_child_is_forked_beside_a_runtime_with_its_own_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child forked beside onnxruntime's thread pool (a notebook that ran a session) could wait for
    ever on a lock one of its threads held: the charts are then drawn in this process."""
    import sys
    import types

    from costmodel import charts

    monkeypatch.setitem(sys.modules, "onnxruntime", types.ModuleType("onnxruntime"))
    drawer = charts.Drawer.start()
    assert drawer._child is None and drawer._pipe is None
    drawn = drawer.draw([], [], [])
    assert set(drawn) == {"blocks", "types", "scaling"}
