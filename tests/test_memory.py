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


# AlexNet exports only where its adaptive pool divides evenly (223 px: 200 MB of weights), left out here
@pytest.mark.parametrize("name", [n for n in builtin_names() if n != "alexnet"])
def test_the_exported_onnx_graph_has_the_same_peak(name: str) -> None:
    """Liveness over the exported ONNX file's own nodes and inferred shapes (Identity, Flatten and
    Reshape are views of their input, as runtimes make them) gives the report's peak. A SiLU layer is
    written as Sigmoid then Mul (ONNX has Swish only from opset 24): its gate is the layer's own
    temporary, made in the output's place as the executor's kernel does, and is not counted."""
    onnx = pytest.importorskip("onnx")
    from costmodel.onnx_export import to_onnx

    model = load_model(name)
    network = model.network(model.point(resolution=97))
    proto = onnx.shape_inference.infer_shapes(to_onnx(network, executor.seeded_weights(network)))
    sizes = {}
    for value in [*proto.graph.input, *proto.graph.value_info, *proto.graph.output]:
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim][1:]  # without the batch
        sizes[value.name] = int(np.prod(dims)) * 4
    weights = {init.name for init in proto.graph.initializer}
    alias: dict[str, str] = {}
    nodes = list(proto.graph.node)
    for node in nodes:
        if node.op_type == "Sigmoid" and node.name.endswith("/sigmoid"):  # a SiLU layer's gate
            sizes[node.output[0]] = 0
    for node in nodes:
        if node.op_type in ("Identity", "Flatten", "Reshape"):
            alias[node.output[0]] = alias.get(node.input[0], node.input[0])
    last_use = {}
    for step, node in enumerate(nodes):
        for tensor in node.input:
            if tensor and tensor not in weights:
                last_use[alias.get(tensor, tensor)] = step
    live = {"input": sizes["input"]}
    peak = live["input"]
    for step, node in enumerate(nodes):
        for tensor in node.output:
            if tensor not in alias:
                live[tensor] = sizes[tensor]
        peak = max(peak, sum(live.values()))
        for tensor in node.input:
            tensor = alias.get(tensor, tensor)
            if last_use.get(tensor) == step and tensor in live:
                del live[tensor]
    assert peak == activation_memory(model.costs(model.point(resolution=97)))["peak_bytes"]


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet"])
def test_the_grid_s_peak_in_runs_of_rows_is_the_peak_at_each_point(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A grid too large to hold every tensor's size at once is worked out a few rows at a time: the same
    numbers, point by point, as the report's count."""
    import costmodel.grid

    model = load_model(name)
    alphas = [["0.35"], ["0.5"], ["0.75"], ["1"], ["1.3"]]
    sides = [[96, 160, 224]]
    values = {"alpha": np.array(alphas), "resolution": np.array(sides)}
    whole = CostGrid(model)(["peak_memory"], **values)["peak_memory"]
    monkeypatch.setattr(costmodel.grid, "MEMORY_CHUNK_BYTES", 1)  # one row at a time
    in_rows = CostGrid(model)(["peak_memory"], **values)["peak_memory"]
    np.testing.assert_array_equal(in_rows, whole)
    for i, (alpha,) in enumerate(alphas):
        for j, side in enumerate(sides[0]):
            point = model.point(alpha=alpha, resolution=side)
            assert in_rows[i, j] == activation_memory(model.costs(point))["peak_bytes"]
