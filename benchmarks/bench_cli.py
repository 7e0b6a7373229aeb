"""Whole-process timing of the costmodel CLI.

Checks two targets:

* ``costmodel report mobilenet --alpha 0.75 --res 192 --format json`` takes at most
  1.3x as long as a bare ``python -c "import sympy, networkx, numpy, click, jinja2, yaml"``
  (ratio of medians, runs interleaved A, B, A, B, ... after one warm-up of each);
* ``costmodel expr mobilenet --metric macs`` runs in under 2 s (median);
* ``costmodel explain mobilenet 589.0M`` (16 MACs readings and 5 parameter presets at one point)
  runs in under 1 s (median).

Standard library only. Run as ``python benchmarks/bench_cli.py`` from any directory.
Exits 0 whether or not the targets are met; exits 1 only if a run fails.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time

from _process import REPO_ROOT, costmodel_command

EXPECTED_MACS = 239273472
RATIO_TARGET = 1.3
EXPR_TARGET_S = 2.0
EXPLAIN_TARGET_S = 1.0

IMPORTS = "import sympy, networkx, numpy, click, jinja2, yaml"


class RunFailed(Exception):
    def __init__(self, cmd: list[str], message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.cmd = cmd
        self.message = message
        self.stderr = stderr


def run_timed(cmd: list[str]) -> tuple[float, str]:
    """Run ``cmd`` as a whole process; return (wall seconds, stdout). Raise RunFailed on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RunFailed(cmd, f"exit status {proc.returncode}", proc.stderr)
    return elapsed, proc.stdout


def run_report(cmd: list[str]) -> float:
    """Time one report run and check that it printed the right numbers."""
    elapsed, out = run_timed(cmd)
    try:
        data = json.loads(out)
    except json.JSONDecodeError as exc:
        raise RunFailed(cmd, f"stdout is not valid JSON: {exc}") from exc
    macs = data.get("macs") if isinstance(data, dict) else None
    if macs != EXPECTED_MACS:
        raise RunFailed(cmd, f'"macs" is {macs!r}, expected {EXPECTED_MACS}')
    return elapsed


def run_imports(cmd: list[str]) -> float:
    return run_timed(cmd)[0]


def run_expr(cmd: list[str]) -> float:
    elapsed, out = run_timed(cmd)
    if not out.strip():
        raise RunFailed(cmd, "printed nothing on stdout")
    return elapsed


def summary_ms(times: list[float]) -> str:
    ms = [t * 1000.0 for t in times]
    return f"median {statistics.median(ms):8.1f} ms   min {min(ms):8.1f} ms   max {max(ms):8.1f} ms"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=positive_int, default=21, help="timed runs of each of report and imports (default 21)"
    )
    parser.add_argument(
        "--expr-runs", type=positive_int, default=5, help="timed runs of `costmodel expr` and `explain` (default 5)"
    )
    args = parser.parse_args(argv)

    base = costmodel_command()
    report_cmd = [*base, "report", "mobilenet", "--alpha", "0.75", "--res", "192", "--format", "json"]
    imports_cmd = [sys.executable, "-c", IMPORTS]
    expr_cmd = [*base, "expr", "mobilenet", "--metric", "macs"]
    explain_cmd = [*base, "explain", "mobilenet", "589.0M"]

    print(f"python:  {sys.executable} ({sys.version.split()[0]})")
    print(f"A (report):  {shlex.join(report_cmd)}")
    print(f"B (imports): {shlex.join(imports_cmd)}")
    print(f"runs: {args.runs} each, interleaved A, B, ... after one warm-up of each")

    try:
        run_report(report_cmd)
        run_imports(imports_cmd)
        report_times: list[float] = []
        import_times: list[float] = []
        for _ in range(args.runs):
            report_times.append(run_report(report_cmd))
            import_times.append(run_imports(imports_cmd))

        print(f"expr:        {shlex.join(expr_cmd)} ({args.expr_runs} runs)")
        expr_times = [run_expr(expr_cmd) for _ in range(args.expr_runs)]
        print(f"explain:     {shlex.join(explain_cmd)} ({args.expr_runs} runs)")
        explain_times = [run_expr(explain_cmd) for _ in range(args.expr_runs)]
    except RunFailed as exc:
        print(f"FAILED: {shlex.join(exc.cmd)}: {exc.message}", file=sys.stderr)
        if exc.stderr:
            sys.stderr.write(exc.stderr if exc.stderr.endswith("\n") else exc.stderr + "\n")
        return 1

    ratio = statistics.median(report_times) / statistics.median(import_times)
    expr_median = statistics.median(expr_times)

    print()
    print(f"A report   {summary_ms(report_times)}")
    print(f"B imports  {summary_ms(import_times)}")
    verdict = "meets" if ratio <= RATIO_TARGET else "MISSES"
    print(f"ratio of medians A/B = {ratio:.3f}  ({verdict} target <= {RATIO_TARGET})")
    print()
    print(f"expr       {summary_ms(expr_times)}")
    verdict = "meets" if expr_median < EXPR_TARGET_S else "MISSES"
    print(f"expr median {expr_median:.3f} s  ({verdict} target < {EXPR_TARGET_S:g} s)")
    explain_median = statistics.median(explain_times)
    print(f"explain    {summary_ms(explain_times)}")
    verdict = "meets" if explain_median < EXPLAIN_TARGET_S else "MISSES"
    print(f"explain median {explain_median:.3f} s  ({verdict} target < {EXPLAIN_TARGET_S:g} s)")
    print()
    print(f"report/imports: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
