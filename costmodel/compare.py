"""Rows for comparing configurations side by side: models × widths × resolutions.

The question behind it is the one users bring: which version, which α, which resolution fits the
budget? Each row is the summary of ``costmodel report`` (without its layers) for one configuration.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from fractions import Fraction
from typing import Any

from costmodel import limits
from costmodel.conventions import Counting
from costmodel.errors import UsageError
from costmodel.intmath import exact_number
from costmodel.model import Model, PointOptions
from costmodel.report import summary_context


def split_values(text: str | None, what: str) -> list[str | None]:
    """'0.5,0.75, 1.0' → ['0.5', '0.75', '1.0']; '96:128:16' → ['96', '112', '128'] (start:stop:step,
    the stop included when the steps reach it, exact: 0.1:0.3:0.1 is 0.1, 0.2, 0.3); None → [None]
    (the model's default). Ranges and values mix: '0.25,0.5:1:0.25'."""
    if text is None:
        return [None]
    values: list[str | None] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise UsageError(f"{what} takes a value, a start:stop:step range or a comma-separated list, got {text!r}")
        if ":" in part:
            values.extend(_range(part, what))
        else:
            values.append(part)
        if len(values) > limits.current().values:
            raise limits.exceeded("values", f"{what} gives too many values")
    return values


def _range(part: str, what: str) -> list[str | None]:
    pieces = part.split(":")
    try:
        start, stop, step = (exact_number(p) for p in pieces) if len(pieces) == 3 else (None, None, None)
    except (ValueError, ZeroDivisionError):
        start = stop = step = None
    if start is None or stop is None or step is None or step <= 0:
        raise UsageError(f"{what}: a range is start:stop:step with a positive step, got {part!r}")
    count = int((stop - start) / step) + 1
    if count > limits.current().values:
        raise limits.exceeded("values", f"{what}: {part} gives too many values", f"{count:,}")
    start_places, step_places = _decimal_places(start), _decimal_places(step)
    if start_places is None or step_places is None:
        return [decimal_text(start + k * step) for k in range(max(count, 0))]
    places = max(start_places, step_places)
    scale = 10**places  # in whole units of the last decimal: 100,000 values in a few hundredths of a second
    first, stride = int(start * scale), int(step * scale)
    return [_shifted(first + k * stride, places) for k in range(max(count, 0))]


def _decimal_places(value: Fraction) -> int | None:
    """Decimal places that write ``value`` exactly (None where no decimal does: 1/3)."""
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    return max(twos, fives) if denominator == 1 else None


def _shifted(units: int, places: int) -> str:
    """``units`` of 10^-places as decimal_text writes it: 35, 2 -> '0.35'; 100, 2 -> '1'."""
    if places == 0:
        return str(units)
    digits = str(abs(units)).rjust(places + 1, "0")
    whole, fraction = digits[:-places], digits[-places:].rstrip("0")
    return ("-" if units < 0 else "") + (f"{whole}.{fraction}" if fraction else whole)


def decimal_text(value: Fraction) -> str:
    """An exact value as a spec or option writes it: '0.35', '112', or '1/3' where no decimal is exact."""
    if value.denominator == 1:
        return str(value.numerator)
    if _decimal_places(value) is None:
        return str(value)
    text = f"{Decimal(value.numerator) / Decimal(value.denominator):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def comparison_rows(
    models: list[Model],
    alphas: list[str | None],
    resolutions: list[str | None],
    values: dict[str, str],
    counting: Counting | str,
) -> list[dict[str, Any]]:
    """One summary per model and configuration; a symbol a model lacks (α for SqueezeNet) is skipped
    for that model rather than an error, so one command can tabulate the whole family."""
    plans = []
    for model in models:
        own_alphas = alphas if model.roles.width is not None else [None]
        own_resolutions = resolutions if model.base_resolution is not None else [None]
        plans.append((model, own_alphas, own_resolutions))
    planned = sum(len(a) * len(r) for _, a, r in plans)
    if planned > limits.current().table_rows:  # each row counts the network once: refused before any
        raise limits.exceeded(
            "table_rows",
            "the table would have too many rows (for a grid of many points use `costmodel sweep`)",
            f"{planned:,}",
        )
    work = sum(len(a) * len(r) * len(model.structure.order) for model, a, r in plans)
    if work > limits.current().table_layers:  # EfficientNet carries every repeat its depth allows, most absent
        raise limits.exceeded(
            "table_layers",
            "the table would count too many layers, rows times the layers of each network "
            "(for a grid of many points use `costmodel sweep`, which evaluates the closed forms at once)",
            f"{work:,}",
        )
    rows = []
    for model, own_alphas, own_resolutions in plans:
        own_values = {name: value for name, value in values.items() if name in model.spec.symbols}
        for alpha, resolution in itertools.product(own_alphas, own_resolutions):
            shaped = PointOptions(resolution=resolution).reshape(model)  # 224x160: the aspect asked for
            point = shaped.point(alpha=alpha, resolution=resolution, values=own_values)
            rows.append(summary_context(shaped, point, counting))
    return rows


def input_label(row: dict[str, Any]) -> int | str | None:
    """A summary's input side, or height x width where the input is not square."""
    sides = row.get("input_size")
    if sides is None:
        return None
    height, width = sides
    return height if height == width else f"{height}x{width}"


def headline(row: dict[str, Any]) -> dict[str, Any]:
    """The columns of the comparison table: one published top-1 (the first source's) if any."""
    accuracy = row.get("accuracy") or []
    top1 = next((a["top1"] for a in accuracy if a.get("top1") is not None), None)
    name = row["model"] + (f" ({row['variant']})" if row.get("variant") else "")
    return {
        "model": name,
        "alpha": "—" if row["alpha"] is None else f"{row['alpha']:g}",
        "resolution": "—" if row["input_size"] is None else input_label(row),
        "params": row["params"],
        "macs": row["macs"],
        "size": row["model_size_bytes"]["float32"],
        "peak": row["activations"]["peak_bytes"],
        "min_resolution": "—" if row["min_resolution"] is None else row["min_resolution"],
        "top1": "—" if top1 is None else f"{top1:g}",
    }
