"""Forward-pass timing of the NumPy executor beside onnxruntime, each in its own process, quiet and under load.

For each model (MobileNet v1 and v2, α = 1, and SqueezeNet 1.0, all 224×224, batch 1, seeded weights
and input) the network is exported to ONNX with the same weights, and one worker process is started
per engine: the executor's ``Session`` (batch norms folded into the convs, ReLUs run inside them; BLAS
threads as the executor picks them at each run, see ``costmodel.executor.blas_threads``) and an
onnxruntime session on the export (``--ort-threads`` intra-op threads, default 2, its other options at
their defaults; ``--ort-no-spin`` stops its idle threads spinning). Each worker builds its engine and
warms up; then the workers are asked for one timed forward pass at a time, in turn (executor,
onnxruntime, executor, ...), so that only one engine runs at any moment and both see the same machine.
``--runs`` passes each (default 41) on the machine as it is ("quiet") and as many while a
``while True: pass`` child started by the benchmark keeps a core busy ("under load"), in ``--blocks``
alternating blocks (default 3: quiet, loaded, quiet, ...; the child is started for each loaded block
and killed after it), so that both phases see the same background. ``--layer-by-layer`` also times
``Session(fuse=False)`` in a third worker.

Prints medians (with min and max), executor/onnxruntime quiet and under load, each engine's slowdown
under load (median under load / median quiet), how far the two engines' outputs differ, the BLAS
threads the executor ran with, and the executor's peak memory (tracemalloc, weights included) against
the weights plus the two largest activations. Targets: executor within 3× of onnxruntime quiet on
MobileNet v1 (issue 4); under load the executor slows no more than onnxruntime does (issue 12); peak
memory within 2× of that sum.

Other people's processes are load too: the load average is printed first, and, from /proc, how many
CPUs processes other than the workers kept busy in each phase (about 0 quiet and 1 under load on an
idle machine). The last line reads ``mobilenet_v1 executor/onnxruntime: Q quiet, L under load``
(ratios of medians), or ``... n/a (reason)``. Run as ``python benchmarks/bench_executor.py`` from any
directory; ``--executor-threads N`` sets ``COSTMODEL_THREADS`` in the executor's worker (e.g. 2 to see
what two BLAS threads do).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

MODELS = {
    "mobilenet_v1": {"alpha": "1.0", "resolution": 224},
    "mobilenet_v2": {"alpha": "1.0", "resolution": 224},
    "squeezenet1_0": {"resolution": 224},
}
RATIO_TARGET = 3.0
MEMORY_TARGET = 2.0
# Seconds between two timed passes. After a pass, onnxruntime's idle workers spin for about 50 ms and
# OpenBLAS's (with 2 threads) for about 100 ms: the engine timed next would share the cores with them.
GAP = 0.15
LOAD = "while True: pass"


# -- the workers ----------------------------------------------------------------------------------


def build_engine(kind: str, model_name: str, onnx_path: str, ort_threads: int, ort_spin: bool) -> Callable[[], Any]:
    """A function that runs one forward pass and returns the output batch."""
    from costmodel import executor
    from costmodel.loading import load_model

    model = load_model(model_name)
    network = model.network(model.point(**MODELS[model_name]))
    x = executor.seeded_input(network)
    if kind == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = ort_threads
        if not ort_spin:  # idle workers block at once instead of spinning for the next run
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        return lambda: session.run(None, feed)[0]
    fused = executor.Session(network, executor.seeded_weights(network), fuse=kind == "executor")
    return lambda: fused.run(x)[0]


def worker(kind: str, model_name: str, onnx_path: str, ort_threads: int, ort_spin: bool, warmup: int) -> None:
    """Serve the parent on stdin/stdout: ``run`` -> seconds of one pass and its BLAS threads (the
    executor's choice, 0 for onnxruntime); ``save PATH`` -> the output written to PATH (.npy), then
    ``ok``. Prints ``ready`` once built and warm."""
    from contextlib import nullcontext

    import numpy as np

    from costmodel import executor

    engine = build_engine(kind, model_name, onnx_path, ort_threads, ort_spin)
    for _ in range(warmup):
        engine()
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "run":
            start = time.perf_counter()
            # the session's own choice (timed too), made here to be told: the session keeps it
            with executor.limited_blas_threads() if kind != "onnxruntime" else nullcontext(0) as threads:
                engine()
            elapsed = time.perf_counter() - start
            print(elapsed, threads, flush=True)
        elif command == "save":
            np.save(argument, engine())
            print("ok", flush=True)


class Worker:
    """One engine in a process of its own."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str]) -> None:
        self.label = label
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stdin, self.stdout = cast(IO[str], self.proc.stdin), cast(IO[str], self.proc.stdout)

    def ask(self, command: str) -> str:
        self.stdin.write(command + "\n")
        self.stdin.flush()
        reply = self.stdout.readline().strip()
        if not reply:
            raise SystemExit(f"the {self.label} worker died (exit code {self.proc.wait()})")
        return reply

    def wait_ready(self) -> None:
        if self.stdout.readline().strip() != "ready":
            raise SystemExit(f"the {self.label} worker failed to start (exit code {self.proc.wait()})")

    def close(self) -> None:
        self.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def competing_load() -> Iterator[None]:
    """One CPU-bound process for the duration of the block."""
    load = subprocess.Popen([sys.executable, "-c", LOAD])
    try:
        time.sleep(0.5)  # started and spinning before the first timed pass
        yield
    finally:
        load.kill()
        load.wait()


# -- the parent -----------------------------------------------------------------------------------


def export(model_name: str, folder: Path) -> tuple[str | None, str | None]:
    """(path of the ONNX export with the executor's seeded weights, None), or (None, why not)."""
    try:
        import onnxruntime  # noqa: F401

        from costmodel.onnx_export import export_model
    except ImportError as err:
        return None, f"{err.name} not installed"
    from costmodel import executor
    from costmodel.loading import load_model

    model = load_model(model_name)
    point = model.point(**MODELS[model_name])
    path = folder / f"{model_name}.onnx"
    try:
        export_model(model, point, path, executor.seeded_weights(model.network(point)))
    except Exception as err:  # the optional onnx package may be missing: say so, keep timing
        return None, f"export failed: {err}"
    return str(path), None


def peak_memory(model_name: str) -> tuple[int, int, int]:
    """(peak bytes traced while seeding, building a session and running it; weight bytes; the two
    largest activations in bytes). The session's folded weights are a second copy of most weights."""
    import tracemalloc

    from costmodel import executor
    from costmodel.loading import load_model
    from costmodel.ops import product

    model = load_model(model_name)
    network = model.network(model.point(**MODELS[model_name]))
    tracemalloc.start()
    try:
        weights = executor.seeded_weights(network)
        executor.Session(network, weights).run(executor.seeded_input(network))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    weight_bytes = sum(a.nbytes for arrays in weights.values() for a in arrays.values())
    sizes = sorted([int(product(network.input_shape))] + [int(product(n.output_shape)) for n in network.nodes])
    return peak, weight_bytes, 4 * sum(sizes[-2:])


def busy_ticks(pids: list[int]) -> tuple[int, int, int] | None:
    """(CPU ticks busy on the whole machine, idle, spent by ``pids``) from /proc, or None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        ours = 0
        for pid in pids:
            stat = Path(f"/proc/{pid}/stat").read_text()
            ours += sum(int(v) for v in stat[stat.rindex(")") + 2 :].split()[11:13])  # utime, stime
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields[:8]) - idle, idle, ours


@dataclass
class Phase:
    """The passes timed quiet, or under load: seconds per engine, and the machine's CPU ticks meanwhile."""

    times: dict[str, list[float]] = field(default_factory=dict)
    threads: dict[str, list[int]] = field(default_factory=dict)  # the executor's BLAS threads, per pass
    ticks: list[int] = field(default_factory=lambda: [0, 0, 0])  # busy, idle, by our workers
    measured: bool = True  # whether /proc told the ticks

    def alternate(self, workers: list[Worker], runs: int) -> None:
        """``runs`` timed passes of each worker, in turn."""
        pids = [w.proc.pid for w in workers]
        before = busy_ticks(pids)
        for _ in range(runs):
            for w in workers:
                time.sleep(GAP)
                seconds, threads = w.ask("run").split()
                self.times.setdefault(w.label, []).append(float(seconds))
                self.threads.setdefault(w.label, []).append(int(threads))
        after = busy_ticks(pids)
        if before is None or after is None:
            self.measured = False
        else:
            self.ticks = [total + a - b for total, a, b in zip(self.ticks, after, before, strict=True)]

    def others(self) -> float | None:
        """How many CPUs processes other than the workers kept busy (the competing load included)."""
        busy, idle, ours = self.ticks
        if not self.measured or busy + idle <= 0:
            return None
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(0.0, (busy - ours) / (busy + idle) * cpus)


def output_difference(workers: list[Worker], folder: Path) -> dict[str, float]:
    """Each engine's largest difference from the executor's output, relative to its largest |y|."""
    import numpy as np

    outputs = {}
    for index, w in enumerate(workers):
        path = folder / f"output{index}.npy"
        w.ask(f"save {path}")
        outputs[w.label] = np.load(path)
    reference = outputs["executor"]
    scale = float(np.abs(reference).max()) or 1.0
    return {
        label: float(np.abs(reference - y.reshape(reference.shape)).max()) / scale
        for label, y in outputs.items()
        if label != "executor"
    }


def threads_used(threads: list[int]) -> str:
    return ", ".join(f"{n} ({count})" for n, count in sorted(Counter(threads).items(), reverse=True))


def show(times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"{statistics.median(ms):6.1f} ms (min {min(ms):.1f}, max {max(ms):.1f})"


def report_model(name: str, args: argparse.Namespace, folder: Path) -> str:
    """Time one model; return what the last line says of executor/onnxruntime."""
    onnx_path, why_not = export(name, folder)
    env = dict(os.environ)
    executor_env = dict(env, COSTMODEL_THREADS=str(args.executor_threads)) if args.executor_threads else env
    common = ["--model", name, "--onnx", onnx_path or "", "--ort-threads", str(args.ort_threads)]
    common += ["--warmup", str(args.warmup), *(["--ort-no-spin"] if args.ort_no_spin else [])]
    workers = [Worker("executor", ["--worker", "executor", *common], executor_env)]
    if onnx_path is not None:
        workers.append(Worker("onnxruntime", ["--worker", "onnxruntime", *common], env))
    if args.layer_by_layer:
        workers.append(Worker("executor, layer by layer", ["--worker", "layer-by-layer", *common], executor_env))
    try:
        for w in workers:
            w.wait_ready()
        quiet, under_load = Phase(), Phase()
        for block in range(args.blocks):  # quiet, loaded, quiet, ...: both phases see the same background
            runs = len(range(block, args.runs, args.blocks))
            quiet.alternate(workers, runs)
            if not args.no_load:
                with competing_load():
                    under_load.alternate(workers, runs)
        differences = output_difference(workers, folder) if len(workers) > 1 else {}
    finally:
        for w in workers:
            w.close()
    print(
        f"{name} {MODELS[name]}, batch 1, {args.runs} passes each, in turn, one process per engine "
        f"(onnxruntime intra-op threads: {args.ort_threads}{', not spinning' if args.ort_no_spin else ''}):"
    )
    others_quiet, others_loaded = quiet.others(), under_load.others()
    if others_quiet is not None:
        line = f"  other processes kept {others_quiet:.2f} CPUs busy meanwhile quiet"
        if others_loaded is not None and under_load.times:
            line += f", {others_loaded:.2f} under load (the competing child's 1 included)"
        print(line)
    loaded = under_load.times
    medians = {label: statistics.median(ts) for label, ts in quiet.times.items()}
    loaded_medians = {label: statistics.median(ts) for label, ts in loaded.items()}
    for label, ts in quiet.times.items():
        line = f"  {label + ':':26} quiet {show(ts)}"
        if loaded:
            line += f"; under load {show(loaded[label])}; slowdown {loaded_medians[label] / medians[label]:.2f}×"
        if label in differences:
            line += f"; output differs by {differences[label]:.1e} of max |y|"
        print(line)
    for label in quiet.threads:
        if any(quiet.threads[label]):
            phases = [("quiet", quiet.threads[label]), ("under load", under_load.threads.get(label, []))]
            counts = [f"{phase} {threads_used(used)}" for phase, used in phases if used]
            print(f"  {label}'s BLAS threads (passes): {'; '.join(counts)}")
    peak, weight_bytes, activations = peak_memory(name)
    budget = weight_bytes + activations
    print(
        f"  peak memory {peak / 2**20:.1f} MiB vs weights {weight_bytes / 2**20:.1f} MiB "
        f"+ two largest activations {activations / 2**20:.1f} MiB = {budget / 2**20:.1f} MiB: "
        f"ratio {peak / budget:.2f} (target <= {MEMORY_TARGET:g})"
    )
    if onnx_path is None:
        return f"n/a ({why_not})"
    ratio = medians["executor"] / medians["onnxruntime"]
    print(f"  executor/onnxruntime quiet: {ratio:.2f} (target <= {RATIO_TARGET:g})")
    if not loaded:
        return f"{ratio:.2f} quiet"
    loaded_ratio = loaded_medians["executor"] / loaded_medians["onnxruntime"]
    slowdowns = {label: loaded_medians[label] / medians[label] for label in ("executor", "onnxruntime")}
    met = "met" if slowdowns["executor"] <= slowdowns["onnxruntime"] else "NOT met"
    print(
        f"  executor/onnxruntime under load: {loaded_ratio:.2f}; slowdown under load: executor "
        f"{slowdowns['executor']:.2f}×, onnxruntime {slowdowns['onnxruntime']:.2f}× "
        f"(target: executor's <= onnxruntime's, {met})"
    )
    return f"{ratio:.2f} quiet, {loaded_ratio:.2f} under load"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=41, help="timed passes per engine, quiet and under load (41)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed passes first, in each worker (3)")
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)} (all of them)"
    )
    parser.add_argument("--ort-threads", type=int, default=2, help="onnxruntime intra-op threads (2)")
    parser.add_argument(
        "--ort-no-spin", action="store_true", help="onnxruntime's idle threads block at once (allow_spinning 0)"
    )
    parser.add_argument("--executor-threads", type=int, default=0, help="COSTMODEL_THREADS for the executor")
    parser.add_argument("--blocks", type=int, default=3, help="quiet and loaded blocks, alternating (3)")
    parser.add_argument("--no-load", action="store_true", help="time quiet only")
    parser.add_argument("--layer-by-layer", action="store_true", help="also time Session(fuse=False)")
    parser.add_argument("--worker", choices=("executor", "onnxruntime", "layer-by-layer"), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.model, args.onnx, args.ort_threads, not args.ort_no_spin, args.warmup)
        return
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if unknown or not names:
        parser.error(f"--models: choose among {', '.join(MODELS)}")
    args.runs = max(args.runs, 1)
    args.blocks = min(max(args.blocks, 1), args.runs)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"{cpus} CPUs available; load average before timing: {load}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results[name] = report_model(name, args, Path(tmp))
    first = "mobilenet_v1" if "mobilenet_v1" in results else names[0]
    print(f"{first} executor/onnxruntime: {results[first]}")


if __name__ == "__main__":
    main()
