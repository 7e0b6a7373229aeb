"""The example specs in examples/: each builds and verifies, and their closed forms are exact.

Claims:
- every example passes ``verify`` (executor = closed form = count) at its default point;
- the vision transformer example is torchvision's vit_b_16 (num_params and a hook count, at 224 and 384),
  and its closed forms (in rho and num_classes) equal the count at random sides;
- the atrous segmentation example (explicit padding, dilated convolutions, a pyramid, a bilinear
  resize, a 2:1 input) has closed forms equal to the count at random widths and resolutions, its output
  map is the input's size, and its dilated layers cost what their undilated kernels cost.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel import symbolic
from costmodel.cli import main
from costmodel.loading import load_model

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))
ATROUS = str(Path(__file__).resolve().parent.parent / "examples" / "atrous_segmentation.yaml")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_verifies(path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", str(path)])
    assert result.exit_code == 0, result.output


def test_the_atrous_example_s_closed_forms_are_exact_at_random_points() -> None:
    model = load_model(ATROUS)
    rng = np.random.default_rng(31)
    forms = {metric: symbolic.closed_form(model, metric) for metric in ("macs", "params", "other_ops")}
    for _ in range(5):
        alpha = f"{rng.integers(25, 140) / 100:g}"
        height = int(rng.integers(8, 80)) * 8
        point = model.point(alpha=alpha, resolution=height)
        costs = model.costs(point)
        assert point.sides == (height, 2 * height)
        assert costs.layers[-1].output_shape[1:] == (height, 2 * height)  # the map is the input's size
        for metric, form in forms.items():
            assert symbolic.evaluate(form, model, point) == getattr(costs, metric), (metric, alpha, height)


VIT = str(Path(__file__).resolve().parent.parent / "examples" / "vision_transformer.yaml")
PYTORCH = json.loads((Path(__file__).resolve().parent / "data" / "pytorch_counts.json").read_text())


@pytest.mark.parametrize("side", [224, 384])
def test_the_vision_transformer_example_is_torchvisions_vit_b_16(side: int) -> None:
    """Params equal torchvision's num_params, MACs its hook count (tools/pytorch_fixtures.py), at both
    of the sides torchvision's weights come in: the position embedding has a row per token."""
    costs = load_model(VIT).costs(load_model(VIT).point(resolution=side))
    assert (costs.params, costs.macs) == (
        PYTORCH[f"vit_b_16@{side}"]["num_params"],
        PYTORCH[f"vit_b_16@{side}"]["hook_macs"],
    )


def test_the_vision_transformer_s_closed_forms_are_exact_at_random_points() -> None:
    """Sides that are multiples of 16 and sides that are not (the patches cover what they can)."""
    model = load_model(VIT)
    rng = np.random.default_rng(37)
    forms = {metric: symbolic.closed_form(model, metric) for metric in ("macs", "params", "other_ops")}
    for side in [*(16 * int(n) for n in rng.integers(1, 30, 3)), *(int(n) for n in rng.integers(16, 500, 3))]:
        classes = int(rng.integers(1, 2000))
        point = model.point(resolution=side, classes=classes)
        costs = model.costs(point)
        for metric, form in forms.items():
            assert symbolic.evaluate(form, model, point) == getattr(costs, metric), (metric, side, classes)


def test_a_dilated_layer_costs_what_its_kernel_costs() -> None:
    costs = load_model(ATROUS).costs()
    macs = {layer.name: layer.macs for layer in costs.layers}
    # each pyramid branch: 64 filters of 3×3 over 128 channels at every pixel of the 32×64 map
    assert macs["rate2.conv"] == macs["rate4.conv"] == 64 * 128 * 9 * 32 * 64
    assert macs["block3.dw"] == 128 * 9 * 32 * 64
