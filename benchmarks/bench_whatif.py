"""What-if commands as a user runs them: ``solve`` and ``pick`` whole-process for every built-in model,
and a 1,000,000-point ``sweep`` written as CSV.

Each command runs as a whole process, interleaved with a bare ``python -c "import sympy, networkx,
numpy, click, jinja2, yaml"`` so both see the same machine; medians of ``--runs`` runs (default 3).
Targets: every ``solve`` and ``pick`` under 2 s; the sweep under 5 s. The sweep's file is checked
(a million rows and the header).

Run as ``python benchmarks/bench_whatif.py`` with the interpreter the package is installed in.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from _process import costmodel_command, whole_process

IMPORTS = "import sympy, networkx, numpy, click, jinja2, yaml"
COMMAND_TARGET_S = 2.0
SWEEP_TARGET_S = 5.0


def median_of(cmd: list[str], runs: int, imports: list[float]) -> float:
    times = []
    for _ in range(runs):
        times.append(whole_process(cmd))
        imports.append(whole_process([sys.executable, "-c", IMPORTS]))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from costmodel import load_model
    from costmodel.resources import builtin_names

    imports: list[float] = []
    worst = 0.0
    print(f"whole process, median of {args.runs} runs:")
    for name in builtin_names():
        has_width = load_model(name).roles.width is not None
        cases = [["solve", name, "--max-macs", "150M", *(["--res", "160"] if has_width else [])]]
        if has_width:
            cases.append(["solve", name, "--max-macs", "150M", "--max-peak-memory", "2MB"])  # the frontier
        for case in cases:
            seconds = median_of([*costmodel_command(), *case], args.runs, imports)
            worst = max(worst, seconds)
            print(f"  {' '.join(case):<70} {seconds:6.3f} s")
    for case in (["pick", "--max-macs", "300M", "--max-params", "3M"], ["pick", "--max-macs", "60M", "--all"]):
        seconds = median_of([*costmodel_command(), *case], args.runs, imports)
        worst = max(worst, seconds)
        print(f"  {' '.join(case):<70} {seconds:6.3f} s")
    print(f"  bare imports: median {statistics.median(imports):.3f} s")
    verdict = "meets" if worst < COMMAND_TARGET_S else "MISSES"
    print(f"  slowest solve/pick {worst:.3f} s ({verdict} target < {COMMAND_TARGET_S:g} s)")

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sweep.csv"
        cmd = [
            *costmodel_command(),
            "sweep",
            "mobilenet_v2",
            "--alpha",
            "0.01:10:0.01",
            "--res",
            "96:1095:1",
            "-o",
            str(out),
        ]
        seconds = statistics.median(whole_process(cmd) for _ in range(args.runs))
        lines = out.read_text().count("\n")
    if lines != 1_000_001:
        raise SystemExit(f"the sweep wrote {lines} lines, not a header and 1,000,000 rows")
    verdict = "meets" if seconds < SWEEP_TARGET_S else "MISSES"
    print(f"sweep of 1,000,000 points (mobilenet_v2, macs and params) to CSV: {seconds:.3f} s ({verdict} target < 5 s)")
    print(f"solve/pick slowest: {worst:.3f} s; sweep: {seconds:.3f} s")


if __name__ == "__main__":
    main()
