"""Large and condition-heavy specs: closed forms that stay exact without sympy's solvers, and the layer
limit checked before the expansion (``benchmarks/bench_scale.py`` times the same specs at scale)."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from synthetic_specs import synthetic_spec

from costmodel import load_model, symbolic
from costmodel.cli import main
from costmodel.limits import ENVIRONMENT
from costmodel.resources import spec_dir


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _assert_exact(model, points) -> None:  # type: ignore[no-untyped-def]
    """Every metric's closed form (one expression, and compiled) equals the count at every point."""
    for metric in ("macs", "params", "other_ops"):
        total = symbolic.closed_form(model, metric)
        compiled = symbolic.compile(model, metric)
        for point in points:
            count = getattr(model.costs(point), metric)
            assert symbolic.evaluate(total, model, point) == count, (metric, point)
            assert compiled(**{k: v for k, v in point.values.items()}) == count, (metric, point)


def _points(model, alphas, resolutions):  # type: ignore[no-untyped-def]
    return [model.point(alpha=a, resolution=r) for a in alphas for r in resolutions]


def test_a_squeeze_excite_under_a_width_condition_has_an_exact_closed_form(tmp_path: Path) -> None:
    """Issue 12's reproducer: v3-Small's gates under ``in_channels > 16`` instead of ``$se == 1``."""
    text = (spec_dir() / "mobilenet_v3_small.yaml").read_text()
    assert text.count("when: $se == 1") == 1
    model = load_model(
        _write(tmp_path, "v3_small_width_gate", text.replace("when: $se == 1", "when: in_channels > 16"))
    )
    points = _points(model, ("0.25", "0.5", "0.75", "1.25"), (96, 224))
    _assert_exact(model, points)
    # the gates now depend on alpha: at 0.25 the first block (8 channels) has none, at 1.25 it has one
    layers = {
        a: {c.name for c in model.costs(model.point(alpha=a)).layers if c.present is True} for a in ("0.25", "1.25")
    }
    assert "b1.se.fc1" not in layers["0.25"] and "b1.se.fc1" in layers["1.25"]


def test_layers_chosen_by_conditions_on_chosen_widths_stay_exact(tmp_path: Path) -> None:
    """Each conv exists where the width the one before it chose passes a bound: every condition of
    the written-out form is a choice of choices (five deep), and it still equals the count."""
    lines = [
        "name: chained",
        "symbols:",
        '  alpha: {default: 1.0, domain: "> 0"}',
        '  rho: {default: 1.0, domain: "> 0"}',
        "input: {channels: 3, size: 16*rho}",
        "width: {rule: make_divisible8, multiplier: alpha}",
        "layers:",
        "  - {op: conv2d, out: 16, k: 1}",
        *(f"  - {{op: conv2d, out: {16 + 5 * i}, k: 1, when: in_channels > {12 + 4 * i}}}" for i in range(5)),
        "  - {op: conv2d, out: 24, k: 3, when: in_channels // 4 == 6}",
        "  - {op: global_avg_pool}",
    ]
    model = load_model(_write(tmp_path, "chained", "\n".join(lines) + "\n"))
    alphas = [str(Fraction(n, 20)) for n in range(4, 41, 3)]
    _assert_exact(model, _points(model, alphas, (16, 31)))
    by_layer = symbolic.per_layer(model, "macs")
    point = model.point(alpha="1.3")
    counts = {c.name: c.macs for c in model.costs(point).layers}
    assert {name: symbolic.evaluate(e, model, point) for name, e in by_layer.items()} == {
        name: n for name, n in counts.items() if name in by_layer
    }


def test_a_form_too_large_to_write_out_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Twelve such layers in a row: the written-out form would double with each; the JSON (which
    carries it) is refused in one line, and the count is unaffected."""
    lines = [
        "name: chained",
        "symbols:",
        '  alpha: {default: 1.0, domain: "> 0"}',
        "input: {channels: 3, size: 8}",
        "width: {rule: make_divisible8, multiplier: alpha}",
        "layers:",
        "  - {op: conv2d, out: 16, k: 1}",
        *(f"  - {{op: conv2d, out: {16 + 3 * i}, k: 1, when: in_channels > {16 + 2 * i}}}" for i in range(12)),
    ]
    path = _write(tmp_path, "chained12", "\n".join(lines) + "\n")
    result = CliRunner().invoke(main, ["expr", str(path), "--format", "json"])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "nodes" in result.stderr, result.stderr
    assert CliRunner().invoke(main, ["report", str(path), "--format", "json"]).exit_code == 0


@pytest.mark.parametrize("layers", [50, 61])
def test_synthetic_specs_have_as_many_layers_as_asked_and_exact_closed_forms(tmp_path: Path, layers: int) -> None:
    model = load_model(_write(tmp_path, f"synthetic{layers}", synthetic_spec(layers)))
    assert len(model.structure.drafts) == layers
    text = synthetic_spec(layers)
    widths = re.findall(r"(?:out|hidden|squeeze): (\d+\.\d+)", text)
    assert len(set(widths)) == len(widths) > layers // 10
    named = {str(s) for s in model.symbolic_network.definitions}  # every width its own quantity
    assert len([s for s in named if s.startswith("c")]) > len(widths)
    _assert_exact(model, _points(model, ("0.3", "0.55", "1", "1.45"), (20, 32, 57)))


LIMIT_SPEC = """\
name: many
input: {channels: 3, size: 8}
blocks:
  ten:
    params: {n: 10}
    body:
      - {op: conv2d, out: 4, k: 1}
      - {op: relu, repeat: $n}
  thousand:
    body:
      - {use: ten, repeat: 100}
layers:
  - {op: conv2d, name: stem, out: 4, k: 1}
  - {use: thousand, name: deep, repeat: REPEAT}
"""


@pytest.mark.parametrize("command", ["report", "expr", "verify"])
def test_a_spec_past_the_layer_limit_is_refused_before_expanding(tmp_path: Path, command: str) -> None:
    path = _write(tmp_path, "many", LIMIT_SPEC.replace("REPEAT", "1000"))
    result = CliRunner().invoke(main, [command, str(path)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {path}:14: layer 'deep': the spec expands to too many layers (at least ")
    assert "past the limit layers=20,000" in line and f"{ENVIRONMENT}=layers=N" in line


def test_the_layer_limit_is_costmodel_limits_and_counts_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count before expanding and the one while expanding agree to the layer (a repeat that depends
    on a block parameter is counted once before, exactly while); COSTMODEL_LIMITS moves the limit."""
    text = LIMIT_SPEC.replace("REPEAT", "3")
    layers = 1 + 3 * 100 * 11  # 3,301
    monkeypatch.setenv(ENVIRONMENT, f"layers={layers}")
    assert len(load_model(_write(tmp_path, "at_the_limit", text)).structure.drafts) == layers
    monkeypatch.setenv(ENVIRONMENT, f"layers={layers - 1}")
    result = CliRunner().invoke(main, ["report", str(_write(tmp_path, "past_the_limit", text))])
    assert result.exit_code == 2 and f"more than {layers - 1:,} once blocks" in result.stderr, result.stderr
    monkeypatch.setenv(ENVIRONMENT, "layers=600")  # the count before expanding (one relu per ten) is 601
    result = CliRunner().invoke(main, ["report", str(_write(tmp_path, "far_past_the_limit", text))])
    assert result.exit_code == 2 and "at least 601 once blocks" in result.stderr, result.stderr
    synthetic = _write(tmp_path, "synthetic", synthetic_spec(200))
    monkeypatch.setenv(ENVIRONMENT, "layers=199")
    result = CliRunner().invoke(main, ["report", str(synthetic)])
    assert result.exit_code == 2 and "at least 200 once" in result.stderr, result.stderr
