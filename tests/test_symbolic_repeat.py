"""A repeat count that depends on a symbol (EfficientNet's depth multiplier: ``ceil(n * depth)``):
the spec expands to the most repetitions over the domain, each existing where the count reaches it,
and the closed forms stay exact as the number of layers changes."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from costmodel import load_model, symbolic
from costmodel.cli import main
from costmodel.errors import SpecError

SPEC = """\
name: deep
symbols:
  depth: {default: 1.0, domain: "> 0, <= 3", description: depth multiplier}
  rho: {default: 1.0, domain: "> 0"}
input: {channels: 3, size: 32*rho}
blocks:
  unit:
    params: {c: null, n: 3}
    body:
      - residual:
          - {op: conv2d, name: conv, out: $c, k: 3, pad: 1}
          - {op: relu, name: relu}
        name: add
  stage:
    params: {c: null, n: null}
    body:
      - {use: unit, name: unit, c: $c, repeat: ceil($n * depth)}
layers:
  - {op: conv2d, name: stem, out: 8, k: 3, stride: 2, pad: 1}
  - {use: stage, name: s1, c: 8, n: 3}
  - {op: conv2d, name: widen, out: 16, k: 1, repeat: ceil(2 * depth)}
  - {op: global_avg_pool, name: pool}
  - {op: linear, name: fc, out: 10}
"""


def unit_count(depth: Fraction) -> int:
    return math.ceil(3 * depth)


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("repeat") / "deep.yaml"
    path.write_text(SPEC)
    return str(path)


@pytest.mark.parametrize("depth", ["0.1", "1/3", "0.34", "1", "1.1", "2", "2.5", "3"])
def test_the_layers_and_the_closed_form_follow_the_depth(spec: str, depth: str) -> None:
    model = load_model(spec)
    point = model.point(values={"depth": depth})
    costs = model.costs(point)
    present = [layer.name for layer in costs.layers if layer.present]
    units = unit_count(Fraction(depth))
    widens = math.ceil(2 * Fraction(depth))
    assert sum(name.endswith(".conv") for name in present) == units
    assert sum(name.startswith("widen") for name in present) == widens
    # conv 8 -> 8 3x3 with bias: 584 params per unit; widen 8 -> 16 then 16 -> 16 1x1 with bias
    widen_params = 8 * 16 + 16 + (widens - 1) * (16 * 16 + 16)
    assert costs.params == 3 * 9 * 8 + 8 + 584 * units + widen_params + 16 * 10 + 10
    for metric in ("params", "macs"):
        assert symbolic.evaluate(symbolic.closed_form(model, metric), model, point) == getattr(costs, metric)


def test_the_executor_agrees_where_the_depth_removes_layers(spec: str) -> None:
    result = CliRunner().invoke(main, ["verify", spec, "--set", "depth=0.4"])
    assert result.exit_code == 0, result.output
    assert "agree" in result.output


def test_the_first_repetition_may_be_absent_only_where_the_count_can_be_zero(spec: str) -> None:
    """ceil(3 * depth) >= 1 for every depth > 0: the first unit is unconditional, the others not."""
    network = load_model(spec).symbolic_network
    first = next(node for node in network.nodes if node.name == "s1.unit.1.conv")
    second = next(node for node in network.nodes if node.name == "s1.unit.2.conv")
    assert first.present is True and second.present is not True


@pytest.mark.parametrize(
    ("repeat", "domain", "message"),
    [
        ("ceil(2 * depth)", "> 0", "needs depth's domain bounded on both sides"),
        ("ceil(2000 * depth)", "> 0, <= 3", "repeat must be a whole number from 1 to 1000 over the domain of depth"),
        ("depth", "> 0, <= 3", "over the domain of depth, got 1e-09 to 3"),
    ],
)
def test_counts_the_domain_cannot_bound_are_refused(tmp_path: Path, repeat: str, domain: str, message: str) -> None:
    text = SPEC.replace('domain: "> 0, <= 3"', f'domain: "{domain}"').replace("ceil(2 * depth)", repeat)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_model(str(path))
    assert message in str(err.value) and str(err.value).startswith(f"{path}:")


def test_a_parallel_entry_is_repeated_through_a_block(tmp_path: Path) -> None:
    text = SPEC.replace(
        "  - {op: global_avg_pool, name: pool}",
        "  - {parallel: [[{op: relu}], [{op: relu}]], merge: add, repeat: ceil(depth)}\n"
        "  - {op: global_avg_pool, name: pool}",
    )
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match="unknown key 'repeat' in parallel"):  # put it in a block to repeat it
        load_model(str(path))
