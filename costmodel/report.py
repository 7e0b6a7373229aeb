"""The one plain dict every output format is rendered from.

JSON is this dict as it is; the terminal, Markdown and HTML templates only loop over it and format
numbers, so every format says the same thing.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from costmodel import conventions
from costmodel.conventions import Counting
from costmodel.costs import BREAKDOWN_NAMES, BYTES_PER_VALUE, Costs, activation_memory
from costmodel.errors import UsageError
from costmodel.macs_conventions import MEASURED
from costmodel.model import Model, Point


def plain_number(value: Fraction | int) -> int | float:
    """An exact value for JSON: an int when whole, else a float."""
    value = Fraction(value)
    return value.numerator if value.denominator == 1 else float(value)


def _shape(shape: tuple) -> list[int]:
    return [int(v) for v in shape]


def point_summary(model: Model, point: Point) -> dict[str, Any]:
    """The point as the JSON shows it: α and ρ under those keys, whatever the spec calls them."""
    values = point.values
    width, resolution = model.roles.width, model.roles.resolution
    alpha = values.get(width) if width else None
    rho = values.get(resolution) if resolution else None
    return {
        "alpha": plain_number(alpha) if alpha is not None else None,
        "rho": plain_number(rho) if rho is not None else None,
        "resolution": point.resolution,
        "input_size": list(point.sides) if point.sides is not None else None,
        "symbols": {k: plain_number(v) for k, v in values.items() if k not in (width, resolution)},
    }


def summary_context(model: Model, point: Point, counting: Counting | str = conventions.DEFAULT) -> dict[str, Any]:
    """Totals at a point: the JSON object of DESIGN.md without ``layers``."""
    costs = model.costs(point, counting)
    return _summary(model, point, costs)


def _summary(model: Model, point: Point, costs: Costs, activation_dtype: str = "float32") -> dict[str, Any]:
    preset = costs.counting
    params = int(costs.params)
    return {
        "model": model.name,
        "variant": model.spec.variant,
        "title": model.spec.title,
        "source": model.spec.source,
        **point_summary(model, point),
        "params": params,
        "macs": int(costs.macs),
        "flops": 2 * int(costs.macs),
        "other_ops": int(costs.other_ops),
        "paper_macs": int(costs.paper_macs),
        "macs_added": macs_added(costs),
        "macs_unmeasured": unmeasured(costs),
        "params_breakdown": {BREAKDOWN_NAMES[k]: int(v) for k, v in costs.params_by_kind.items()},
        "model_size_bytes": {name: params * size for name, size in BYTES_PER_VALUE.items()},
        "activations": activation_memory(costs, BYTES_PER_VALUE[activation_dtype]),
        "min_resolution": model.min_resolution(point),
        "conventions": {
            "counting": preset.name,
            "params": preset.description,
            "macs_convention": preset.macs.name,
            "macs": conventions.macs_description(preset.macs),
            "activations": f"{activation_dtype} tensors, batch 1, no in-place reuse; peak = largest set alive at once",
        },
        "accuracy": published_accuracy(model, point),
        "by_op_type": {
            label: {"layers": row["layers"], "params": int(row["params"]), "macs": int(row["macs"])}
            for label, row in costs.by_op_type().items()
        },
    }


def macs_added(costs: Costs) -> list[dict[str, Any]]:
    """What the MACs convention adds to the paper's count, per operator type (none for ``paper``)."""
    return [
        {"op": op, "added": int(row["added"]), "rule": row["formula"], "why": row["why"]}
        for op, row in costs.added_by_rule().items()
        if row["added"]
    ]


def unmeasured(costs: Costs) -> list[str]:
    """Operator types of this network the MACs convention's tool was not measured on (none for ``paper``):
    the count assumes it adds nothing for them."""
    if not costs.counting.macs.rules:
        return []
    return sorted({layer.op for layer in costs.layers if layer.present is not False} - MEASURED)


def published_accuracy(model: Model, point: Point) -> list[dict[str, Any]]:
    """The spec's published ImageNet accuracy rows for exactly this configuration."""
    rows = []
    width = model.roles.width
    point_alpha = point.values.get(width, Fraction(1)) if width else Fraction(1)
    for row in model.spec.accuracy:
        alpha = row.get("alpha")
        same_alpha = alpha is None or Fraction(str(alpha)) == point_alpha
        same_resolution = row.get("resolution", 224) == point.resolution and point.width is None
        same_variant = row.get("variant") in (None, model.spec.variant)
        if same_alpha and same_resolution and same_variant and point_is_default_elsewhere(model, point):
            rows.append({key: row.get(key) for key in ("top1", "top5", "latency_ms", "source")})
    return rows


def point_is_default_elsewhere(model: Model, point: Point) -> bool:
    """Published accuracy is for the standard head: other symbols (classes...) at their defaults."""
    scaling = (model.roles.width, model.roles.resolution)
    return all(value == model.spec.symbols[name].default for name, value in point.values.items() if name not in scaling)


def report_context(
    model: Model,
    point: Point,
    counting: Counting | str = conventions.DEFAULT,
    depth: int | None = 1,
    activation_dtype: str = "float32",
) -> dict[str, Any]:
    """Everything ``costmodel report`` shows, per block (at ``depth``; None: every layer) and in total.

    ``layers`` always holds every layer (the JSON's stable interface); ``blocks`` groups them as the
    spec does, ``depth`` levels down, each with its output's bytes at ``activation_dtype`` (as the peak
    activation memory is).
    """
    if activation_dtype not in BYTES_PER_VALUE:
        raise UsageError(f"unknown dtype '{activation_dtype}' (dtypes: {', '.join(BYTES_PER_VALUE)})")
    costs = model.costs(point, counting)
    context = _summary(model, point, costs, activation_dtype)
    width = BYTES_PER_VALUE[activation_dtype]
    context["activation_dtype"] = activation_dtype
    context["layers"] = [
        {
            "name": layer.name,
            "op": layer.op,
            "type": layer.label,
            "input_shape": _shape(layer.input_shapes[0]),
            "output_shape": _shape(layer.output_shape),
            "params": int(layer.params),
            "macs": int(layer.macs),
            "other_ops": int(layer.other_ops),
        }
        for layer in costs.layers
        if layer.present is not False
    ]
    context["blocks"] = blocks(context["layers"], costs, depth or 1, width)
    context["view"] = "blocks" if depth is not None else "layers"
    context["depth"] = depth
    context["notes"] = list(model.notes)
    return context


def display_rows(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a text report shows: its blocks, or every layer with its share and output bytes."""
    if context["view"] == "blocks":
        return list(context["blocks"])
    total = context["macs"]
    width = BYTES_PER_VALUE[context.get("activation_dtype", "float32")]
    return [
        {**layer, "macs_share": _share(layer["macs"], total), "output_bytes": _bytes(layer["output_shape"], width)}
        for layer in context["layers"]
    ]


def _share(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def _bytes(shape: list[int], width: int = BYTES_PER_VALUE["float32"]) -> int:
    size = 1
    for v in shape:
        size *= v
    return size * width


def _block_of(name: str, group: str, depth: int) -> str:
    """The block a layer belongs to ``depth`` levels down: its group, then further name parts."""
    if name == group or not name.startswith(group + "."):
        return group if depth == 1 or name == group else name
    parts = name[len(group) + 1 :].split(".")
    return ".".join([group, *parts[: depth - 1]]) if depth > 1 else group


def blocks(layers: list[dict[str, Any]], costs: Costs, depth: int, width: int = 4) -> list[dict[str, Any]]:
    """Layers grouped as the spec groups them (a fire module, an inverted residual is one row): its
    output shape, parameters, MACs, share of the MACs, the float32 bytes of its output, and the types
    of the layers that carry its cost. Zero-cost layers (ReLU, batch norm under most presets) fold in."""
    group_of = {layer.name: layer.group for layer in costs.layers}
    rows: dict[str, dict[str, Any]] = {}
    total = sum(layer["macs"] for layer in layers)
    for layer in layers:
        key = _block_of(layer["name"], group_of.get(layer["name"], layer["name"]), depth)
        row = rows.setdefault(key, {"name": key, "types": [], "layers": 0, "params": 0, "macs": 0})
        row["layers"] += 1
        row["params"] += layer["params"]
        row["macs"] += layer["macs"]
        row["output_shape"] = layer["output_shape"]
        if layer["macs"] and layer["type"] not in row["types"]:
            row["types"].append(layer["type"])
    result: list[dict[str, Any]] = []
    for row in rows.values():
        if result and not row["params"] and not row["macs"] and "." not in row["name"]:
            # a layer that costs nothing at the top level (a ReLU, a pool) folds into the block before
            previous = result[-1]
            previous["layers"] += row["layers"]
            previous["output_shape"] = row["output_shape"]
            previous["output_bytes"] = _bytes(row["output_shape"], width)
            continue
        types = row.pop("types")
        row["type"] = " + ".join(types[:3]) + (" + …" if len(types) > 3 else "") if types else "—"
        row["macs_share"] = _share(row["macs"], total)
        row["output_bytes"] = _bytes(row["output_shape"], width)
        result.append(row)
    return result
