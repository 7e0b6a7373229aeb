"""The HTML report of MobileNet v3-Large, charts and formulas included, beside ``report --format json``.

Both run as whole processes, interleaved (HTML, JSON, HTML, ...) after one warm-up of each, so they
see the same machine; medians of ``--runs`` runs (default 7). Target: the HTML page in less than
twice the JSON's time. Run as ``python benchmarks/bench_pages.py``.
"""

from __future__ import annotations

import argparse
import statistics

from _process import costmodel_command, whole_process

TARGET = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base = costmodel_command()
    html = [*base, "report", "mobilenet_v3_large", "--format", "html"]
    json_ = [*base, "report", "mobilenet_v3_large", "--format", "json"]
    whole_process(html), whole_process(json_)
    pages, plain = [], []
    for _ in range(args.runs):
        pages.append(whole_process(html))
        plain.append(whole_process(json_))
    ratio = statistics.median(pages) / statistics.median(plain)
    verdict = "meets" if ratio < TARGET else "MISSES"
    print(f"report mobilenet_v3_large --format html: median {statistics.median(pages):.3f} s")
    print(f"report mobilenet_v3_large --format json: median {statistics.median(plain):.3f} s")
    print(f"html/json: {ratio:.3f} ({verdict} target < {TARGET:g})")


if __name__ == "__main__":
    main()
