"""How ``report``, ``expr`` and ``verify`` scale with the number of layers.

A generated spec of N layers (``tests/synthetic_specs.py``: chains, inverted residuals whose adds exist
where two rounded widths agree, layers and squeeze-excite gates under symbolic conditions such as
``in_channels > 24``, every convolution its own width) for N = 500, 1,000, 2,000, 4,000 and 8,000
(``--sizes`` chooses); each command runs as a whole process, and its wall time, CPU time and peak
resident memory are taken from that child alone (``os.wait4``). The fitted exponent is the least-squares
slope of log(time) against log(N), per command, for the wall time and for the CPU time (the second is
the one to quote on a shared machine, whose other work stretches the first).
Targets: every exponent (wall) at most 1.15, and ``expr`` on the 1,000-layer spec under 5 s.

Run as ``python benchmarks/bench_scale.py`` with the interpreter the package is installed in
(``--runs N``: the median of N runs per point, default 1; the default set takes two or three minutes).
Exits 0 whether or not the targets are met; 1 if a run fails or prints something unexpected.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _process import REPO_ROOT, costmodel_command

sys.path.insert(0, str(REPO_ROOT / "tests"))
from synthetic_specs import synthetic_spec

SIZES = (500, 1000, 2000, 4000, 8000)
COMMANDS = {  # the command's arguments after the spec, and what its output must hold
    "report": ([], "layers"),
    "expr": ([], "total = "),
    "verify": ([], "shapes, params and MACs agree"),
}
EXPONENT_TARGET = 1.15
EXPR_LAYERS, EXPR_TARGET_S = 1000, 5.0


def measure(cmd: list[str], expect: str, folder: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak resident bytes of one run of ``cmd`` (checked)."""
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=REPO_ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    text = out.read_text(errors="replace")
    if proc.returncode != 0 or expect not in text:
        sys.stderr.write(err.read_text(errors="replace")[-2000:])
        raise SystemExit(f"failed (exit {proc.returncode}, expected {expect!r} in the output): {' '.join(cmd)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def slope(sizes: list[int], times: list[float]) -> float:
    """Least-squares slope of log(time) against log(size)."""
    xs = [math.log(n) for n in sizes]
    ys = [math.log(t) for t in times]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="layer counts, comma-separated")
    parser.add_argument("--runs", type=int, default=1, help="runs per point; the median is kept (default 1)")
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.sizes.split(",")})
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in COMMANDS}
    print(f"whole process, median of {args.runs} run(s) per point: wall s, CPU s, peak resident MiB")
    print(f"  {'':>7}  " + "  ".join(f"{name:^26}" for name in COMMANDS))
    print(f"  {'layers':>7}  " + "  ".join(f"{'wall s':>8} {'CPU s':>8} {'MiB':>8}" for _ in COMMANDS))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in sizes:
            spec = folder / f"synthetic{n}.yaml"
            spec.write_text(synthetic_spec(n, name=f"synthetic{n}"), encoding="utf-8")
            cells = []
            for name, (extra, expect) in COMMANDS.items():
                runs = [
                    measure([*costmodel_command(), name, str(spec), *extra], expect, folder) for _ in range(args.runs)
                ]
                wall = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                peak = max(r[2] for r in runs)
                results[name].append((wall, cpu, peak))
                cells.append(f"{wall:8.2f} {cpu:8.2f} {peak / 2**20:8.1f}")
            print(f"  {n:>7,}  " + "  ".join(cells), flush=True)
    met = True
    if len(sizes) > 1:
        print("fitted exponent (time ~ N^k) over all sizes, wall and CPU; and CPU over the last step alone")
        for name, rows in results.items():
            wall_k = slope(sizes, [r[0] for r in rows])
            cpu_k = slope(sizes, [r[1] for r in rows])
            last_k = slope(sizes[-2:], [r[1] for r in rows[-2:]])
            met &= wall_k <= EXPONENT_TARGET
            verdict = "meets" if wall_k <= EXPONENT_TARGET else "MISSES"
            print(
                f"  {name:<7} wall {wall_k:5.2f}  CPU {cpu_k:5.2f}  CPU {sizes[-2]:,}-{sizes[-1]:,} {last_k:5.2f}"
                f"  ({verdict} target <= {EXPONENT_TARGET})"
            )
    if EXPR_LAYERS in sizes:
        seconds = results["expr"][sizes.index(EXPR_LAYERS)][0]
        met &= seconds < EXPR_TARGET_S
        verdict = "meets" if seconds < EXPR_TARGET_S else "MISSES"
        print(f"expr on {EXPR_LAYERS:,} layers: {seconds:.2f} s ({verdict} target < {EXPR_TARGET_S:g} s)")
    print(f"targets: {'all met' if met else 'NOT all met'}")


if __name__ == "__main__":
    main()
