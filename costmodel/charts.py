"""Charts for the reports, drawn by matplotlib as SVG text that a page embeds (nothing fetched).

matplotlib is the optional extra ``costmodel[charts]``; without it :func:`available` is False and the
report says what it would show. The SVG is deterministic (no date, fixed ids, text kept as text) so
that pages built twice are the same.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from costmodel.conventions import Counting
from costmodel.errors import UsageError
from costmodel.grid import CostGrid, point_values
from costmodel.model import Model, Point

COLOURS = ("#3465a4", "#f57900", "#4e9a06", "#75507b")


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.hashsalt": "costmodel", "svg.fonttype": "none", "font.size": 9})
    import matplotlib.pyplot as plt

    return plt


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # the element alone, to sit inside a page


def per_block(rows: Sequence[dict[str, Any]]) -> str:
    """MACs and parameters of each block, side by side, in millions."""
    plt = _pyplot()
    names = [r["name"] for r in rows]
    height = max(2.5, 0.22 * len(rows) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, height), sharey=True)
    y = np.arange(len(rows))[::-1]
    left.barh(y, [r["macs"] / 1e6 for r in rows], color=COLOURS[0])
    right.barh(y, [r["params"] / 1e6 for r in rows], color=COLOURS[1])
    left.set_yticks(y, names)
    left.set_xlabel("MACs (millions)")
    right.set_xlabel("parameters (millions)")
    for axis in (left, right):
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle("Cost per block")
    return _svg(figure)


def by_type(rows: Sequence[dict[str, Any]]) -> str:
    """The share of MACs and of parameters by operator type."""
    plt = _pyplot()
    total_macs = sum(r["macs"] for r in rows) or 1
    total_params = sum(r["params"] for r in rows) or 1
    shown = [r for r in rows if r["macs"] or r["params"]]
    figure, axis = plt.subplots(figsize=(7, max(2.0, 0.3 * len(shown) + 0.8)))
    y = np.arange(len(shown))[::-1]
    axis.barh(y + 0.2, [100 * r["macs"] / total_macs for r in shown], 0.4, label="MACs", color=COLOURS[0])
    axis.barh(y - 0.2, [100 * r["params"] / total_params for r in shown], 0.4, label="parameters", color=COLOURS[1])
    axis.set_yticks(y, [r["type"] for r in shown])
    axis.set_xlabel("share (%)")
    axis.legend(loc="lower right")
    axis.grid(axis="x", alpha=0.3)
    axis.set_title("Share by operator type")
    return _svg(figure)


def scaling(model: Model, point: Point, counting: Counting | str) -> str:
    """MACs, parameters and peak activation memory against α and against the resolution, relative to
    the current point (marked), from the compiled closed forms."""
    plt = _pyplot()
    grid = CostGrid(model, counting)
    metrics = ["macs", "params", "peak_memory"]
    here = {m: float(v) for m, v in grid(metrics, **point_values(model, point)).items()}
    panels = []
    width = model.roles.width
    if width is not None:
        alpha = point.values[width]
        alphas = sorted({float(alpha), *np.round(np.linspace(0.25, 1.5, 26), 3)})
        values = {**point_values(model, point), width: [str(a) for a in alphas]}
        panels.append(("α", alphas, float(alpha), grid(metrics, **values)))
    if model.base_resolution is not None and point.resolution is not None:
        low = max(model.min_resolution(point) or 1, 32)
        sides = sorted({point.resolution, *range(low, 449, 8)})
        values = {**point_values(model, point), "resolution": sides}
        with contextlib.suppress(UsageError):  # a side too small for the network ends the curve
            panels.append(("input side (px)", sides, float(point.resolution), grid(metrics, **values)))
    if not panels:
        return ""
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.2), squeeze=False)
    for axis, (label, xs, x0, costs) in zip(axes[0], panels, strict=True):
        for colour, metric in zip(COLOURS, metrics, strict=False):
            ys = np.asarray(costs[metric], dtype=float) / (here[metric] or 1)
            axis.plot(xs, ys, color=colour, label=metric.replace("_", " "))
        axis.axvline(x0, color="#888", linestyle="--", linewidth=0.8)
        axis.plot([x0], [1.0], "o", color="#222")
        axis.set_xlabel(label)
        axis.set_ylabel("relative to this point")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("How the costs move")
    return _svg(figure)


def mermaid(rows: Sequence[dict[str, Any]]) -> str:
    """The same chain of blocks as a Mermaid flowchart, for Markdown."""
    lines = ["flowchart LR"]
    for index, row in enumerate(rows):
        shape = "×".join(str(v) for v in row["output_shape"])
        lines.append(f'  b{index}["{row["name"]}<br/>{shape}"]')
        if index:
            lines.append(f"  b{index - 1} --> b{index}")
    return "\n".join(lines)
