"""``when:`` on a parallel entry guards its branches and its merge, as on a block use; and the
squeeze-excite trap (``out: in`` inside a branch is the branch layer's input) says how to get out."""

from __future__ import annotations

from pathlib import Path

import pytest

from costmodel import load_model, symbolic
from costmodel.errors import SpecError

GATED = """\
name: gated
symbols:
  alpha: {default: 1.0, domain: "> 0"}
  se: {default: 1, domain: "integer >= 0, <= 1", description: squeeze-excite on or off}
input: {channels: 3, size: 16}
width: {rule: make_divisible8, multiplier: alpha}
layers:
  - {op: conv2d, name: conv, out: 32, k: 3, pad: 1}
  - parallel:
      - []
      - - {op: global_avg_pool, name: pool}
        - {op: conv2d, name: fc1, out: 8, k: 1}
        - {op: relu, name: relu}
        - {op: conv2d, name: fc2, out: GATE, k: 1}
        - {op: sigmoid, name: gate}
    merge: mul
    name: se
    when: se == 1
  - {op: global_avg_pool, name: gap}
  - {op: linear, name: fc, out: fixed(10)}
"""


def model_of(tmp_path: Path, gate: str = "32") -> object:
    path = tmp_path / "gated.yaml"
    path.write_text(GATED.replace("GATE", gate))
    return load_model(str(path))


@pytest.mark.parametrize(("se", "alpha"), [(0, "1"), (1, "1"), (0, "0.5"), (1, "0.75")])
def test_a_guarded_parallel_exists_only_where_its_condition_holds(tmp_path: Path, se: int, alpha: str) -> None:
    model = model_of(tmp_path)
    point = model.point(values={"se": str(se), "alpha": alpha})
    costs = model.costs(point)
    present = [layer.name for layer in costs.layers if layer.present]
    gate = ["pool", "fc1", "relu", "fc2", "gate", "se"]
    assert present == ["conv", *gate, "gap", "fc"] if se else present == ["conv", "gap", "fc"]
    width = costs.layers[0].output_shape[0]
    gate_params = (width * 8 + 8) + (8 * width + width) if se else 0
    assert costs.params == (3 * 9 * width + width) + gate_params + (width * 10 + 10)
    for metric in ("params", "macs"):
        assert symbolic.evaluate(symbolic.closed_form(model, metric), model, point) == getattr(costs, metric)


def test_a_gate_sized_by_in_inside_its_branch_says_why_it_does_not_fit(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        model_of(tmp_path, gate="in")
    message = str(err.value)
    assert "layer 'se': mul cannot broadcast 8×1×1 onto 32×16×16" in message
    assert "inside a branch, `in` and `in_channels` are the input of the layer that names them" in message
