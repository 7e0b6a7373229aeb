"""ONNX files built in the tests: one image input ``x``, the graph's output ``y`` (onnx imported when
called, so that a test module without the onnx extra can import this one and skip)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def one_input_model(
    path: Path,
    nodes: list[Any],
    inits: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
    shape: tuple[Any, ...] = (1, 3, 8, 8),
    opset: int = 17,
) -> str:
    """Write a model of ``nodes`` reading ``x`` of ``shape`` (a dim may be a name) and making ``y``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in dict(inits).items()],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return str(path)


def run_matches_onnxruntime(path: str, x: np.ndarray, directory: Path, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """``costmodel run`` on the file (its own weights) gives what onnxruntime gives for ``x``."""
    import onnxruntime as ort
    from click.testing import CliRunner

    from costmodel.cli import main

    np.save(directory / "x.npy", x)
    out = directory / "y.npy"
    result = CliRunner().invoke(main, ["run", path, "--input", str(directory / "x.npy"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(np.load(out), expected, rtol=rtol, atol=atol)


def exported(directory: Path, spec_text: str, name: str, *options: str) -> tuple[str, str]:
    """The spec written to ``directory/name.yaml`` and ``costmodel export``-ed (with ``options``) to
    ``name.onnx`` beside it: both paths, the export checked to succeed."""
    from click.testing import CliRunner

    from costmodel.cli import main

    spec, out = directory / f"{name}.yaml", directory / f"{name}.onnx"
    spec.write_text(spec_text)
    result = CliRunner().invoke(main, ["export", str(spec), *options, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return str(spec), str(out)
