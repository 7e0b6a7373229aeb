"""Anything a user supplies reaches HTML only escaped: titles, sources, layer names (ONNX node names
keep whatever characters they hold)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from costmodel.cli import main

ATTACK = "<script>alert(1)</script>"
SPEC = f"""\
name: hostile
title: "MobileNet {ATTACK}"
source: "a <b>paper</b> & co"
input: {{channels: 3, size: 8}}
layers:
  - {{op: conv2d, name: conv, out: 4, k: 3}}
  - {{op: global_avg_pool}}
"""


def _html(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--format", "html"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_spec_title_and_source_come_out_escaped(tmp_path: Path) -> None:
    spec = tmp_path / "hostile.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    page = _html("report", str(spec))  # the table page shows neither title nor source
    assert ATTACK not in page and "<b>paper</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a &lt;b&gt;paper&lt;/b&gt; &amp; co" in page


def test_an_onnx_node_name_comes_out_escaped(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 3, 1, 1), dtype=np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["y"], name=f"conv{ATTACK}"),
            helper.make_node("Relu", ["y"], ["z"], name="relu<img src=x onerror=alert(1)>"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2, 4, 4])],
        initializer=[weight],
    )
    path = tmp_path / "hostile.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    page = _html("report", str(path))
    assert ATTACK not in page and "<img" not in page
    assert "conv&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "relu&lt;img src=x onerror=alert(1)&gt;" in page


def test_markdown_shows_html_from_a_spec_as_text(tmp_path: Path) -> None:
    """A Markdown viewer renders raw HTML: a spec's title and source arrive as entities, and a pipe
    cannot split a table cell."""
    spec = tmp_path / "hostile.yaml"
    spec.write_text(SPEC.replace("& co", "& co | x"), encoding="utf-8")
    result = CliRunner().invoke(main, ["report", str(spec), "--format", "md", "--no-charts"])
    assert result.exit_code == 0, result.output
    assert ATTACK not in result.output and "<b>" not in result.output
    assert "# MobileNet &lt;script&gt;alert(1)&lt;/script&gt;" in result.output
    assert "Source: a &lt;b&gt;paper&lt;/b&gt; &amp; co \\| x." in result.output


def test_mermaid_labels_cannot_break_out_of_their_quotes() -> None:
    from costmodel.charts import mermaid

    text = mermaid([{"name": 'a"]; click b0 call x("', "output_shape": (1, 2, 2)}])
    assert '"]; click' not in text and "#quot;" in text


def test_the_conventions_side_by_side_comes_out_escaped(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 3, 1, 1), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv"), helper.make_node("Relu", ["y"], ["z"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2, 4, 4])],
        initializer=[weight],
    )
    path = tmp_path / "<img src=x onerror=alert(1)>.onnx"  # the model is named after its file (made safe)
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    for convention in ("all", "ptflops"):
        page = _html("report", str(path), "--conventions", convention)
        assert "<img" not in page and "img_src_x_onerror_alert_1" in page
