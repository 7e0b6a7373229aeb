"""Rows for comparing configurations side by side: models × widths × resolutions.

The question behind it is the one users bring: which version, which α, which resolution fits the
budget? Each row is the summary of ``costmodel report`` (without its layers) for one configuration.
"""

from __future__ import annotations

import itertools
from typing import Any

from costmodel.conventions import Counting
from costmodel.errors import UsageError
from costmodel.model import Model
from costmodel.report import summary_context


def split_values(text: str | None, what: str) -> list[str | None]:
    """'0.5,0.75, 1.0' → ['0.5', '0.75', '1.0']; None → [None] (the model's default)."""
    if text is None:
        return [None]
    values: list[str | None] = [part.strip() for part in text.split(",")]
    if not all(values):
        raise UsageError(f"{what} takes a value or a comma-separated list, got {text!r}")
    return values


def comparison_rows(
    models: list[Model],
    alphas: list[str | None],
    resolutions: list[str | None],
    values: dict[str, str],
    counting: Counting | str,
) -> list[dict[str, Any]]:
    """One summary per model and configuration; a symbol a model lacks (α for SqueezeNet) is skipped
    for that model rather than an error, so one command can tabulate the whole family."""
    rows = []
    for model in models:
        symbols = model.spec.symbols
        own_alphas = alphas if model.roles.width is not None else [None]
        own_resolutions = resolutions if model.base_resolution is not None else [None]
        own_values = {name: value for name, value in values.items() if name in symbols}
        for alpha, resolution in itertools.product(own_alphas, own_resolutions):
            point = model.point(alpha=alpha, resolution=resolution, values=own_values)
            model.network(point)
            rows.append(summary_context(model, point, counting))
    return rows


def headline(row: dict[str, Any]) -> dict[str, Any]:
    """The columns of the comparison table: one published top-1 (the first source's) if any."""
    accuracy = row.get("accuracy") or []
    top1 = next((a["top1"] for a in accuracy if a.get("top1") is not None), None)
    name = row["model"] + (f" ({row['variant']})" if row.get("variant") else "")
    return {
        "model": name,
        "alpha": "—" if row["alpha"] is None else f"{row['alpha']:g}",
        "resolution": "—" if row["resolution"] is None else row["resolution"],
        "params": row["params"],
        "macs": row["macs"],
        "size": row["model_size_bytes"]["float32"],
        "peak": row["activations"]["peak_bytes"],
        "min_resolution": "—" if row["min_resolution"] is None else row["min_resolution"],
        "top1": "—" if top1 is None else f"{top1:g}",
    }
