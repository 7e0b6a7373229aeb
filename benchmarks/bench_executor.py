"""Forward-pass timing of the NumPy executor, beside onnxruntime on the exported model.

Times ``costmodel.executor.Session.run`` on MobileNet v1 (α = 1, 224×224) and SqueezeNet 1.0
(224×224), batch 1, seeded weights and input: the median of ``--runs`` runs (default 41) after
``--warmup`` runs, with BLAS limited to 2 threads (threadpoolctl if installed, else
OPENBLAS/OMP/MKL_NUM_THREADS set before NumPy is imported). Each engine is built once before timing,
as an onnxruntime session is: the executor's session folds the batch norms into the convs before them
and runs each ReLU inside the conv before it, as onnxruntime's graph optimiser does when its session is
built. The same network run layer by layer (``Session(fuse=False)``: each batch norm and ReLU a pass
of its own) is timed too. Where onnxruntime is installed and ``costmodel.onnx_export.export_model``
exists, the same network (same weights, same input) runs in onnxruntime with 2 intra-op threads, runs
interleaved with the executor's, and the outputs are compared.

Also prints the executor's peak memory (tracemalloc, weights included) against the sum of the weights
and the two largest activations. Targets (issue 4): executor within 3× of onnxruntime on MobileNet v1;
peak memory within 2× of that sum.

The last line reads ``mobilenet_v1 executor/onnxruntime: R`` (R the ratio of medians), or
``... n/a (reason)``. Run as ``python benchmarks/bench_executor.py`` from any directory.
"""

from __future__ import annotations

import os
import sys

# --threads N (default 2) is read here, before NumPy is imported, as the BLAS pool is sized at import.
THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv[:-1] else 2
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)  # before NumPy is imported: fixes the BLAS pool size

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from costmodel import executor  # noqa: E402
from costmodel.loading import load_model  # noqa: E402
from costmodel.ops import product  # noqa: E402
from costmodel.verify import point_label  # noqa: E402

MODELS = (("mobilenet_v1", {"alpha": "1.0", "resolution": 224}), ("squeezenet1_0", {"resolution": 224}))
RATIO_TARGET = 3.0
MEMORY_TARGET = 2.0


def thread_limit() -> Any:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=THREADS)


def onnxruntime_session(model: Any, point: Any, weights: Any, folder: Path) -> tuple[Any, str | None]:
    """An onnxruntime session on the exported network, or (None, why not)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime not installed"
    try:
        from costmodel.onnx_export import export_model
    except ImportError:
        return None, "no costmodel.onnx_export.export_model to export with"
    path = folder / f"{model.name}.onnx"
    try:
        export_model(model, point, path, weights)
    except Exception as err:  # the optional onnx package may be missing: say so, keep timing
        return None, f"export failed: {err}"
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # idle workers must not spin after a run: they would take the cores from the executor timed next
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]), None


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_memory(network: Any, seed: int) -> tuple[int, int, int]:
    """(peak bytes traced while seeding, building a session and running it; weight bytes; the two
    largest activations in bytes). The session's folded weights are a second copy of most weights."""
    tracemalloc.start()
    try:
        weights = executor.seeded_weights(network, seed)
        x = executor.seeded_input(network, 1, seed)
        executor.Session(network, weights).run(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    weight_bytes = sum(a.nbytes for arrays in weights.values() for a in arrays.values())
    sizes = sorted([int(product(network.input_shape))] + [int(product(n.output_shape)) for n in network.nodes])
    return peak, weight_bytes, 4 * sum(sizes[-2:])


def report_model(name: str, values: dict[str, Any], runs: int, warmup: int, folder: Path) -> float | str:
    """Time one model; return executor/onnxruntime (ratio of medians) or why there is none."""
    model = load_model(name)
    point = model.point(**values)
    network = model.network(point)
    weights = executor.seeded_weights(network)
    x = executor.seeded_input(network)
    session, why_not = onnxruntime_session(model, point, weights, folder)
    fused, layer_by_layer = executor.Session(network, weights), executor.Session(network, weights, fuse=False)
    engines = {
        "executor": lambda: fused.run(x)[0],
        "executor, layer by layer": lambda: layer_by_layer.run(x)[0],
    }
    if session is not None:
        feed = {session.get_inputs()[0].name: x}
        engines["onnxruntime"] = lambda: session.run(None, feed)[0]
    for _ in range(warmup):
        for engine in engines.values():
            engine()
    times: dict[str, list[float]] = {label: [] for label in engines}
    for _ in range(runs):  # interleaved, so that every engine sees the same machine load
        for label, engine in engines.items():
            times[label].append(timed(engine))
    medians = {label: statistics.median(ts) * 1000 for label, ts in times.items()}
    macs = sum(r.macs for r in fused.run(x)[1])
    reference = engines["executor"]()
    print(f"{point_label(model, point)}, batch 1, {THREADS} threads, {runs} runs each:")
    for label, ts in times.items():
        line = (
            f"  {label}: median {medians[label]:.1f} ms (min {min(ts) * 1000:.1f}, max {max(ts) * 1000:.1f}; "
            f"{macs / medians[label] / 1e6:.1f} GMAC/s)"
        )
        if label != "executor":
            y = engines[label]()
            error = float(np.abs(reference - y.reshape(reference.shape)).max() / (np.abs(reference).max() or 1))
            line += f", output differs by {error:.1e} of max |y|"
        print(line)
    if session is not None:
        for label in ("executor", "executor, layer by layer"):
            print(
                f"  {label} / onnxruntime: {medians[label] / medians['onnxruntime']:.2f} (target <= {RATIO_TARGET:g})"
            )
    peak, weight_bytes, activations = peak_memory(network, 0)
    budget = weight_bytes + activations
    print(
        f"  peak memory {peak / 2**20:.1f} MiB vs weights {weight_bytes / 2**20:.1f} MiB "
        f"+ two largest activations {activations / 2**20:.1f} MiB = {budget / 2**20:.1f} MiB: "
        f"ratio {peak / budget:.2f} (target <= {MEMORY_TARGET:g})"
    )
    if session is None:
        return f"n/a ({why_not})"
    return medians["executor"] / medians["onnxruntime"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=41, help="timed runs per engine (default 41)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS and onnxruntime threads (default 2)")
    args = parser.parse_args()
    ratios = {}
    with thread_limit(), tempfile.TemporaryDirectory() as tmp:
        for name, values in MODELS:
            ratios[name] = report_model(name, values, max(args.runs, 1), args.warmup, Path(tmp))
    result = ratios["mobilenet_v1"]
    shown = f"{result:.2f}" if isinstance(result, float) else result
    print(f"mobilenet_v1 executor/onnxruntime: {shown}")


if __name__ == "__main__":
    main()
