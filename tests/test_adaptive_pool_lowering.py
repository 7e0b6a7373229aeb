"""Adaptive average pools whose output side does not divide the input side, in ONNX.

ONNX has no adaptive pool. Where the sides divide it is an AveragePool; where they do not (AlexNet and
VGG at 193), PyTorch's dynamo exporter lowers it to a GatherND of the windows, masks, sums and a
division, and costmodel exports it in that spirit.

Claims:
- the files tools/pytorch_fixtures.py wrote with PyTorch (5×5 → 6×6, and 6×9 → 7×7) import as conv,
  adaptive_avg_pool, linear, the pool named after the node that makes its output; MACs and params by
  hand; ``run`` equals onnxruntime; ``verify`` passes;
- the lowering is read only when it computes the pool: a file whose divisors are off is refused in one
  line naming a node;
- costmodel's own export of such a pool (any sides, non-square too) imports back to the same layers and
  counts, and onnxruntime runs it as the executor does;
- a boolean tensor that is a weight is refused (masks are booleans; weights are numbers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from costmodel.cli import main
from costmodel.errors import SpecError
from costmodel.loading import load_model

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402
from onnx_builders import exported, run_matches_onnxruntime  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"

FILES = [
    # file, input sides, pool size, conv MACs (4 filters of 3×3×3 at every input pixel), fc inputs
    ("adaptive_pool_5to6_dynamo.onnx", (5, 5), (6, 6), 4 * 27 * 5 * 5, 4 * 6 * 6),
    ("adaptive_pool_6x9to7_dynamo.onnx", (6, 9), (7, 7), 4 * 27 * 6 * 9, 4 * 7 * 7),
]


@pytest.mark.parametrize(("name", "sides", "size", "conv_macs", "fc_inputs"), FILES)
def test_pytorch_s_lowering_is_one_adaptive_pool(
    tmp_path: Path, name: str, sides: tuple[int, int], size: tuple[int, int], conv_macs: int, fc_inputs: int
) -> None:
    path = str(DATA / name)
    model = load_model(path)
    network = model.network(model.default_point())
    assert [n.op.op_name for n in network.nodes] == ["conv2d", "adaptive_avg_pool", "linear"]
    pool = network.nodes[1]
    assert (
        pool.name.startswith("node_")
        and tuple(pool.op.size if isinstance(pool.op.size, tuple) else [pool.op.size] * 2) == size
    )
    assert network.input_shape == (3, *sides)
    costs = model.costs()
    assert costs.macs == conv_macs + fc_inputs * 10
    assert costs.params == 4 * 27 + 4 + fc_inputs * 10 + 10
    x = np.random.default_rng(5).standard_normal((1, 3, *sides)).astype(np.float32)  # the file's fixed batch
    run_matches_onnxruntime(path, x, tmp_path)
    result = CliRunner().invoke(main, ["verify", path])
    assert result.exit_code == 0 and "agree" in result.output, result.output


def test_a_lowering_that_does_not_average_is_refused(tmp_path: Path) -> None:
    proto = onnx.load(str(DATA / "adaptive_pool_5to6_dynamo.onnx"))
    div = next(n for n in proto.graph.node if n.op_type == "Div")
    divisor = div.input[1]
    constants = {i.name: i for i in proto.graph.initializer}
    if divisor in constants:
        value = numpy_helper.to_array(constants[divisor]) * 2
        constants[divisor].CopyFrom(numpy_helper.from_array(value, divisor))
    else:  # a Constant node
        node = next(n for n in proto.graph.node if divisor in n.output)
        value = numpy_helper.to_array(node.attribute[0].t) * 2
        node.attribute[0].t.CopyFrom(numpy_helper.from_array(value))
    path = tmp_path / "halved.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(SpecError, match=r"layer 'node_[^']+': unsupported ONNX operator '(Where|Div)'|GatherND"):
        load_model(str(path))
    result = CliRunner().invoke(main, ["report", str(path)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output


SPEC = """\
name: pooled
symbols:
  rho: {default: 1.0, domain: "> 0"}
input: {channels: 3, size: [161*rho, 97*rho]}
layers:
  - {op: conv2d, name: c1, out: 8, k: 3, stride: 4, pad: 1}
  - {op: adaptive_avg_pool, name: pool, size: [6, 7]}
  - {op: flatten, name: flat}
  - {op: linear, name: fc, out: 10}
"""


@pytest.mark.parametrize("res", ["161x97", "193x193", "224x224"])
def test_export_then_import_is_the_same_network_and_onnxruntime_agrees(tmp_path: Path, res: str) -> None:
    spec, out = exported(tmp_path, SPEC, "pooled", "--res", res)
    back = load_model(out)
    nodes = back.network(back.default_point()).nodes
    assert [(n.name, n.op.op_name) for n in nodes] == [
        ("c1", "conv2d"),
        ("pool", "adaptive_avg_pool"),
        ("fc", "linear"),
    ]
    from costmodel.model import PointOptions

    original_model = PointOptions(resolution=res).reshape(load_model(spec))
    original = original_model.costs(original_model.point(resolution=res))
    assert (back.costs().macs, back.costs().params) == (original.macs, original.params)
    height, width = (int(v) for v in res.split("x"))
    x = np.random.default_rng(2).standard_normal((1, 3, height, width)).astype(np.float32)
    run_matches_onnxruntime(out, x, tmp_path)


def test_checking_a_lowering_on_a_huge_input_is_refused_within_the_memory_limit(tmp_path: Path) -> None:
    """The probe is as large as the pool's input: a hostile file's 40,000² map is refused, not allocated."""
    from onnx import helper
    from onnx_builders import one_input_model

    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], name="/t", perm=[2, 3, 0, 1]),
        helper.make_node("GatherND", ["t", "i"], ["y"], name="/g"),
    ]
    path = one_input_model(tmp_path / "huge.onnx", nodes, {"i": np.zeros((2, 2), np.int64)}, (1, 1, 40000, 40000))
    result = CliRunner().invoke(main, ["report", path])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "past the limit memory=" in result.output
