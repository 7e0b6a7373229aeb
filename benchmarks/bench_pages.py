"""The HTML report of MobileNet v3-Large, charts and formulas included, beside ``report --format json``.

Both run as whole processes, interleaved (HTML, JSON, HTML, ...) after one warm-up of each, so they
see the same machine; medians of ``--runs`` runs (default 7). Target: the HTML page in less than
twice the JSON's time. Run as ``python benchmarks/bench_pages.py``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET = 2.0


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode())
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "costmodel"
    base = [str(script)] if script.is_file() else [sys.executable, "-m", "costmodel"]
    html = [*base, "report", "mobilenet_v3_large", "--format", "html"]
    json_ = [*base, "report", "mobilenet_v3_large", "--format", "json"]
    timed(html), timed(json_)
    pages, plain = [], []
    for _ in range(args.runs):
        pages.append(timed(html))
        plain.append(timed(json_))
    ratio = statistics.median(pages) / statistics.median(plain)
    verdict = "meets" if ratio < TARGET else "MISSES"
    print(f"report mobilenet_v3_large --format html: median {statistics.median(pages):.3f} s")
    print(f"report mobilenet_v3_large --format json: median {statistics.median(plain):.3f} s")
    print(f"html/json: {ratio:.3f} ({verdict} target < {TARGET:g})")


if __name__ == "__main__":
    main()
