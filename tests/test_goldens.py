"""Rendered reports against golden files; `pytest --update-goldens` rewrites them after a deliberate change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from costmodel.cli import main
from costmodel.resources import builtin_names

GOLDENS = Path(__file__).parent / "goldens"
_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def normalised(text: str) -> str:
    """A page with each chart's SVG reduced to a marker: the charts depend on matplotlib's version,
    the rest of the page must not change unnoticed (the browser test checks that the charts draw)."""
    return _SVG.sub("<svg><!-- chart --></svg>", text)


CASES = [
    ("mobilenet_v1_a075_r192.txt", ["report", "mobilenet", "--alpha", "0.75", "--res", "192"]),
    ("mobilenet_v1_a075_r192.md", ["report", "mobilenet", "--alpha", "0.75", "--res", "192", "--format", "md"]),
    ("mobilenet_v1_a075_r192.html", ["report", "mobilenet", "--alpha", "0.75", "--res", "192", "--format", "html"]),
    ("mobilenet_v1_a075_r192.json", ["report", "mobilenet", "--alpha", "0.75", "--res", "192", "--format", "json"]),
    ("squeezenet1_0.md", ["report", "squeezenet1_0", "--format", "md"]),
    ("squeezenet1_1_sr025.txt", ["report", "squeezenet1_1", "--set", "sr=0.25", "--counting", "paper"]),
    ("alexnet_keras.json", ["report", "alexnet", "--counting", "keras", "--format", "json"]),
    ("mobilenet_v1_macs_smooth.txt", ["expr", "mobilenet", "--smooth"]),
    ("mobilenet_v2_ptflops.txt", ["report", "mobilenet_v2", "--conventions", "ptflops"]),
    (
        "mobilenet_v3_small_torchprofile.md",
        ["report", "mobilenet_v3_small", "--conventions", "torchprofile", "--format", "md"],
    ),
    ("mobilenet_v1_a025_conventions.txt", ["report", "mobilenet", "--alpha", "0.25", "--conventions", "all"]),
    ("squeezenet1_0_thop.json", ["report", "squeezenet1_0", "--conventions", "thop", "--format", "json"]),
    ("mobilenet_v1_explain.txt", ["explain", "mobilenet", "589.0M"]),
    ("conventions.md", ["conventions", "--format", "md"]),
    ("mobilenet_v1_params_exact.json", ["expr", "mobilenet", "--metric", "params", "--format", "json"]),
    *[(f"{name}.report.md", ["report", name, "--format", "md"]) for name in builtin_names()],
    *[(f"{name}.report.html", ["report", name, "--format", "html"]) for name in builtin_names()],
]


@pytest.mark.parametrize(("golden", "args"), CASES, ids=[c[0] for c in CASES])
def test_rendered_output_matches_golden(golden: str, args: list[str], update_goldens: bool) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    output = normalised(result.output)
    path = GOLDENS / golden
    if update_goldens:
        path.write_text(output, encoding="utf-8")
    assert path.is_file(), f"missing golden {path.name}: run pytest --update-goldens"
    assert output == path.read_text(encoding="utf-8")


def test_the_operator_reference_in_specs_readme_is_the_registry(update_goldens: bool) -> None:
    from costmodel.ops import reference

    readme = Path(__file__).resolve().parent.parent / "specs" / "README.md"
    text = readme.read_text(encoding="utf-8")
    generated = reference.with_tables(text)
    if update_goldens and text != generated:
        readme.write_text(generated, encoding="utf-8")
        text = generated
    assert text == generated, "specs/README.md's operator tables differ from the registry: pytest --update-goldens"
