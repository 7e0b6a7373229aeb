"""Charts for the reports, drawn by matplotlib as SVG text that a page embeds (nothing fetched).

matplotlib is the optional extra ``costmodel[charts]``; without it :func:`available` is False and the
report says what it would show. The SVG is deterministic (no date, fixed ids, text kept as text) so
that pages built twice are the same.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import multiprocessing
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from costmodel.conventions import Counting
from costmodel.errors import UsageError
from costmodel.grid import CostGrid, point_values
from costmodel.model import Model, Point
from costmodel.ops.base import show_shape

COLOURS = ("#3465a4", "#f57900", "#4e9a06", "#75507b")


def available() -> bool:
    """Whether matplotlib is installed; found without importing it (the import is slow, and where
    charts are drawn in a child process only the child needs it)."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


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


def scaling_data(model: Model, point: Point, counting: Counting | str) -> list[dict[str, Any]]:
    """The curves of :func:`scaling` as plain lists: MACs, parameters and peak memory against α and
    against the input side, relative to the point, from the compiled closed forms."""
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
    return [
        {
            "label": label,
            "x": [float(x) for x in xs],
            "x0": x0,
            "curves": {m: [float(v) / (here[m] or 1) for v in costs[m]] for m in metrics},
        }
        for label, xs, x0, costs in panels
    ]


def scaling(panels: Sequence[dict[str, Any]]) -> str:
    """How the costs move with α and the input side (curves relative to the point, which is marked)."""
    if not panels:
        return ""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.2), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=True):
        for colour, (metric, ys) in zip(COLOURS, panel["curves"].items(), strict=False):
            axis.plot(panel["x"], ys, color=colour, label=metric.replace("_", " "))
        axis.axvline(panel["x0"], color="#888", linestyle="--", linewidth=0.8)
        axis.plot([panel["x0"]], [1.0], "o", color="#222")
        axis.set_xlabel(panel["label"])
        axis.set_ylabel("relative to this point")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("How the costs move")
    return _svg(figure)


class Drawer:
    """Draws a page's charts, in a child process where the system can fork.

    :meth:`start` forks early: the child imports matplotlib (a third of a second) while this process
    counts the model; :meth:`draw` then sends it the blocks and types to draw while this process works
    out the curves, then the curves. Without fork, or when the child fails, the charts are drawn here.
    """

    def __init__(self) -> None:
        self._pipe: Any = None
        self._child: Any = None

    @classmethod
    def start(cls) -> Drawer:
        drawer = cls()
        if hasattr(os, "fork") and "fork" in multiprocessing.get_all_start_methods() and _fork_is_safe():
            try:
                context = multiprocessing.get_context("fork")
                here, there = context.Pipe()
                drawer._child = context.Process(target=_child, args=(there,), daemon=True)
                drawer._child.start()
                there.close()
                drawer._pipe = here
            except OSError:
                drawer._pipe = drawer._child = None
        return drawer

    def draw(self, blocks: Sequence[dict[str, Any]], types: Sequence[dict[str, Any]], panels: Any) -> dict[str, str]:
        """Every chart; ``panels`` is the scaling data or a function that gives it."""
        if self._pipe is not None:
            try:
                return self._draw_beside(list(blocks), list(types), panels)
            except (OSError, EOFError, multiprocessing.ProcessError):
                pass  # drawn here instead
            finally:
                self.close()
        data = panels() if callable(panels) else panels
        return {"blocks": per_block(blocks), "types": by_type(types), "scaling": scaling(data)}

    def _draw_beside(self, blocks: list[dict[str, Any]], types: list[dict[str, Any]], panels: Any) -> dict[str, str]:
        self._pipe.send((blocks, types))
        self._pipe.send(panels() if callable(panels) else panels)
        if not self._pipe.poll(120):
            raise multiprocessing.ProcessError("the chart drawer did not answer")
        result: dict[str, str] = self._pipe.recv()
        if "error" in result:
            raise multiprocessing.ProcessError(result["error"])
        return result

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self._child is not None:
            self._child.join(5)
            self._child = None


# Runtimes that keep thread pools of their own: a child forked beside them (in a notebook or a test
# run that used one) may find one of their locks held, and wait for ever. NumPy's BLAS pool is safe to
# fork beside (OpenBLAS resets it in the child).
_THREADED_RUNTIMES = ("onnxruntime", "torch", "tensorflow", "jax")


def _fork_is_safe() -> bool:
    """Whether a child forked now can draw: no runtime with thread pools of its own was loaded; else
    the charts are drawn in this process."""
    import sys

    return not any(name in sys.modules for name in _THREADED_RUNTIMES)


def _child(pipe: Any) -> None:  # pragma: no cover - runs in the forked process
    try:
        _pyplot()  # the import, while the parent counts
        blocks, types = pipe.recv()
        drawn = {"blocks": per_block(blocks), "types": by_type(types)}
        drawn["scaling"] = scaling(pipe.recv())
        pipe.send(drawn)
    except EOFError:
        pass  # the parent needed no charts after all
    except Exception as err:  # reported to the parent, which then draws the charts itself
        pipe.send({"error": repr(err)})
    finally:
        pipe.close()
        os._exit(0)


_MERMAID_ESCAPES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}


def mermaid(rows: Sequence[dict[str, Any]]) -> str:
    """The same chain of blocks as a Mermaid flowchart, for Markdown."""
    lines = ["flowchart LR"]
    for index, row in enumerate(rows):
        shape = show_shape(row["output_shape"])
        name = "".join(_MERMAID_ESCAPES.get(ch, ch) for ch in " ".join(str(row["name"]).split()))
        lines.append(f'  b{index}["{name}<br/>{shape}"]')
        if index:
            lines.append(f"  b{index - 1} --> b{index}")
    return "\n".join(lines)
