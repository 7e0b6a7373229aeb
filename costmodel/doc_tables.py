"""Documentation tables: the family's configurations as the papers print them.

``table --metrics top1,macs,params --units M`` gives one row per configuration with those columns
(units in the headers, one number of decimals per column, unknown values empty, columns that are the
same on every row left out); ``--pivot`` gives one grid per metric, α down and the resolution across,
the way the MobileNet paper's Tables 6 and 7 and TF-slim's tables print them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from costmodel.compare import input_label
from costmodel.errors import UsageError

# metric -> (header, kind): "count" scales with --units, "bytes" is shown in MiB, "percent" and "ms" as printed
METRICS: dict[str, tuple[str, str]] = {
    "macs": ("MACs", "count"),
    "params": ("params", "count"),
    "flops": ("FLOPs", "count"),
    "size": ("size float32 (MiB)", "bytes"),
    "peak": ("peak activations (MiB)", "bytes"),
    "min_resolution": ("min input", "plain"),
    "top1": ("top-1 %", "percent"),
    "top5": ("top-5 %", "percent"),
    "latency": ("latency (ms)", "ms"),
}
UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}
DEFAULT_DECIMALS = {"macs": 0, "flops": 0, "params": 1, "top1": 1, "top5": 1, "latency": 1, "size": 1, "peak": 1}


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    decimals: int | None  # None: exact integers with separators


def parse_metrics(text: str | None) -> list[str]:
    metrics = [m.strip() for m in (text or "macs,params,size,peak,min_resolution,top1").split(",") if m.strip()]
    for m in metrics:
        if m not in METRICS:
            raise UsageError(f"unknown metric '{m}' (metrics: {', '.join(METRICS)})")
    return metrics


def records(rows: Sequence[dict[str, Any]], source: str | None = None) -> list[dict[str, Any]]:
    """Plain numbers per configuration from the comparison rows (the report summaries); the published
    accuracy from the first row whose source contains ``source`` (default: the first row)."""
    result = []
    for row in rows:
        published = [
            a for a in row.get("accuracy") or [] if source is None or source.lower() in str(a.get("source", "")).lower()
        ]
        first = published[0] if published else {}
        result.append(
            {
                "model": row["model"] + (f" ({row['variant']})" if row.get("variant") else ""),
                "alpha": row["alpha"],
                "resolution": input_label(row),
                "macs": row["macs"],
                "params": row["params"],
                "flops": row["flops"],
                "size": row["model_size_bytes"]["float32"],
                "peak": row["activations"]["peak_bytes"],
                "min_resolution": row["min_resolution"],
                "top1": first.get("top1"),
                "top5": first.get("top5"),
                "latency": first.get("latency_ms"),
            }
        )
    return result


def columns(metrics: Sequence[str], units: str, decimals: int | None) -> list[Column]:
    if units not in UNITS:
        raise UsageError(f"unknown unit '{units}' (units: K, M, G)")
    result = []
    for m in metrics:
        header, kind = METRICS[m]
        if kind == "count" and units:
            header = f"{header} ({units})"
        places = decimals if decimals is not None else DEFAULT_DECIMALS.get(m)
        if kind == "count" and not units:
            places = None
        if kind == "plain":
            places = None
        result.append(Column(m, header, places))
    return result


def value(record: dict[str, Any], column: Column, units: str) -> float | int | None:
    raw = record[column.key]
    if raw is None:
        return None
    kind = METRICS[column.key][1]
    if kind == "count":
        return float(Fraction(raw, UNITS[units])) if units else int(raw)
    if kind == "bytes":
        return raw / 2**20
    return float(raw) if kind in ("percent", "ms") else raw


def shown(number: float | int | None, column: Column, separators: bool = True) -> str:
    """A cell as text: empty when unknown, the column's decimals, separators for exact integers
    (none for CSV, which spreadsheets read as numbers)."""
    if number is None:
        return ""
    comma = "," if separators else ""
    if column.decimals is None:
        return f"{int(number):{comma}}"
    return f"{number:{comma}.{column.decimals}f}"


def long_table(
    recs: Sequence[dict[str, Any]],
    metrics: Sequence[str],
    units: str = "",
    decimals: int | None = None,
    separators: bool = True,
) -> tuple[list[str], list[list[str]]]:
    """Headers and text rows, one row per configuration; columns the same on every row left out
    (the configuration columns too, but at least one of them stays)."""
    keys = [("model", "model"), ("alpha", "α"), ("resolution", "input")]
    cols = columns(metrics, units, decimals)
    table = []
    for r in recs:
        cells = [
            r["model"],
            "" if r["alpha"] is None else f"{r['alpha']:g}",
            "" if r["resolution"] is None else str(r["resolution"]),
        ]
        cells += [shown(value(r, c, units), c, separators) for c in cols]
        table.append(cells)
    headers = [h for _, h in keys] + [c.header for c in cols]
    keep = [i for i in range(len(headers)) if len({row[i] for row in table}) > 1 or len(table) == 1]
    if not any(i < len(keys) for i in keep) and table:
        keep = [next(i for i in range(len(keys)) if any(row[i] for row in table)), *keep]
    return [headers[i] for i in keep], [[row[i] for i in keep] for row in table]


def pivot(
    recs: Sequence[dict[str, Any]],
    metric: str,
    units: str = "",
    decimals: int | None = None,
    separators: bool = True,
) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Per model: headers (α, then each resolution) and rows (one per α) of ``metric``."""
    (column,) = columns([metric], units, decimals)
    grids: dict[str, tuple[list[str], list[list[str]]]] = {}
    for model in dict.fromkeys(r["model"] for r in recs):
        mine = [r for r in recs if r["model"] == model]
        alphas = list(dict.fromkeys(r["alpha"] for r in mine))
        sides = list(dict.fromkeys(r["resolution"] for r in mine))
        cell = {(r["alpha"], r["resolution"]): shown(value(r, column, units), column, separators) for r in mine}
        headers = ["α", *("—" if s is None else str(s) for s in sides)]
        rows = [["—" if a is None else f"{a:g}", *(cell.get((a, s), "") for s in sides)] for a in alphas]
        grids[model] = (headers, rows)
    return grids


def render(grids: Sequence[tuple[str, list[str], list[list[str]]]], fmt: str, note: str = "") -> str:
    """Tables (title, headers, rows) as text, Markdown, CSV, LaTeX or a standalone HTML page."""
    from costmodel.render import render as render_template

    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for title, headers, rows in grids:
            if len(grids) > 1:
                writer.writerow([f"# {title}"])
            writer.writerow(headers)
            writer.writerows(rows)
        return buffer.getvalue()
    if fmt == "table":
        from tabulate import tabulate

        parts = []
        for title, headers, rows in grids:
            numeric = [_numeric(rows, i) for i in range(len(headers))]
            aligns = tuple("right" if n else "left" for n in numeric)
            text = tabulate(rows, headers=headers, tablefmt="simple", colalign=aligns, disable_numparse=True)
            parts.append((f"{title}\n" if title else "") + text)
        return "\n\n".join(parts) + "\n"
    tables = [
        {"title": title, "headers": headers, "rows": rows, "numeric": [_numeric(rows, i) for i in range(len(headers))]}
        for title, headers, rows in grids
    ]
    template = {"md": "table.md.j2", "html": "table.html.j2", "latex": "table.tex.j2"}[fmt]
    return render_template(template, {"tables": tables, "note": note})


def _numeric(rows: Sequence[Sequence[str]], index: int) -> bool:
    cells = [row[index].replace(",", "") for row in rows if row[index]]
    return bool(cells) and all(_is_number(c) for c in cells)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
