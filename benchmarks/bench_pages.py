"""The HTML report of MobileNet v3-Large, charts and formulas included, beside ``report --format json``.

Both run as whole processes, interleaved (HTML, JSON, HTML, ...) after one warm-up of each, so they
see the same machine; medians of ``--runs`` runs (default 7). Target: the HTML page in less than
twice the JSON's time. Run as ``python benchmarks/bench_pages.py``.

A third process, interleaved with them, only imports what the page needs as the page does (costmodel's
command line, then sympy for the formulas while a forked child imports matplotlib's SVG backend for
the charts) and stops: the floor no page with those formulas and charts can go below, printed as a
multiple of the JSON's time too.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from _process import costmodel_command, whole_process

TARGET = 2.0
IMPORTS = """
import os, costmodel.cli
child = os.fork()
if child == 0:
    import matplotlib.figure, matplotlib.backends.backend_svg
    os._exit(0)
import sympy
os.waitpid(child, 0)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base = costmodel_command()
    html = [*base, "report", "mobilenet_v3_large", "--format", "html"]
    json_ = [*base, "report", "mobilenet_v3_large", "--format", "json"]
    imports = [sys.executable, "-c", IMPORTS]
    whole_process(html), whole_process(json_), whole_process(imports)
    pages, plain, floor = [], [], []
    for _ in range(args.runs):
        pages.append(whole_process(html))
        plain.append(whole_process(json_))
        floor.append(whole_process(imports))
    json_median = statistics.median(plain)
    ratio = statistics.median(pages) / json_median
    verdict = "meets" if ratio < TARGET else "MISSES"
    print(f"report mobilenet_v3_large --format html: median {statistics.median(pages):.3f} s")
    print(f"report mobilenet_v3_large --format json: median {json_median:.3f} s")
    print(f"imports alone (sympy beside a child importing matplotlib): median {statistics.median(floor):.3f} s")
    print(f"html/json: {ratio:.3f} ({verdict} target < {TARGET:g})")
    print(f"imports/json: {statistics.median(floor) / json_median:.3f} (the floor of a page with formulas and charts)")


if __name__ == "__main__":
    main()
