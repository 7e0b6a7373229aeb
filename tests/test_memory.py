"""Peak activation memory is the executor's: an independent count of the tensors alive in its run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from costmodel import executor, load_model
from costmodel.costs import activation_memory
from costmodel.grid import CostGrid
from costmodel.resources import builtin_names

POINTS = [(name, side) for name in builtin_names() for side in (97, 160)] + [
    ("mobilenet_v2", 224),
    ("mobilenet_v3_small", 193),
]


def executor_peak(name: str, side: int, alpha: str | None = None) -> int:
    """The largest total of float32 tensors alive at once while the executor runs the network layer by
    layer without writing over its inputs (the report assumes no in-place reuse), batch 1."""
    model = load_model(name)
    network = model.network(model.point(alpha=alpha, resolution=side))
    session = executor.Session(network, executor.seeded_weights(network), fuse=False, in_place=False)
    peak = 0

    def observe(layer: str, tensors: dict[str, Any]) -> None:
        nonlocal peak
        unique = {id(t): t for t in tensors.values()}  # a layer that passes its input on adds nothing
        peak = max(peak, sum(int(np.prod(t.shape[1:])) * 4 for t in unique.values()))

    session.run(executor.seeded_input(network), observe=observe)
    return peak


@pytest.mark.parametrize(("name", "side"), POINTS)
def test_the_reports_peak_is_the_executors(name: str, side: int) -> None:
    model = load_model(name)
    costs = model.costs(model.point(resolution=side))
    assert activation_memory(costs)["peak_bytes"] == executor_peak(name, side)


@pytest.mark.parametrize("alpha", ["0.35", "0.75"])
def test_absent_residual_adds_read_nothing(alpha: str) -> None:
    """MobileNet v2 at 160: 4.92 MB (its ONNX export's figure), not 5.32 MB with block inputs kept alive."""
    model = load_model("mobilenet_v2")
    point = model.point(alpha=alpha, resolution=160)
    peak = activation_memory(model.costs(point))["peak_bytes"]
    assert peak == executor_peak("mobilenet_v2", 160, alpha)
    grid = CostGrid(model)(["peak_memory"], alpha=[alpha], resolution=[160])["peak_memory"]
    assert int(grid[0]) == peak


def test_mobilenet_v2_at_160_holds_4_92_mb_at_its_peak() -> None:
    model = load_model("mobilenet_v2")
    assert activation_memory(model.costs(model.point(resolution=160)))["peak_bytes"] == 4_915_200
