"""Rendering contexts to text: JSON directly, everything else through the jinja2 templates."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import Any

from costmodel.ops.base import show_shape
from costmodel.resources import template_dir

TEXT_FORMATS = ("table", "md", "html")
UNITS = ((10**9, "G"), (10**6, "M"), (10**3, "K"))


def thousands(value: Any) -> str:
    """1234567 → '1,234,567'; None → '—'."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}"
    return f"{int(value):,}"


def _scientific(value: Any) -> str:
    """Exact integers past float's range still print: 10**360 → '1.000E+360'."""
    return f"{Decimal(int(value)):.3E}"


def si(value: Any, digits: int = 3) -> str:
    """568740352 → '569 M', 4231976 → '4.23 M', 864 → '864'."""
    if value is None:
        return "—"
    if abs(value) >= 10**15:
        return _scientific(value)
    value = float(value)
    for scale, unit in UNITS:
        if abs(value) >= scale:
            scaled = value / scale
            text = f"{scaled:.{digits}g}" if scaled < 10**digits else f"{scaled:.0f}"
            return f"{text} {unit}"
    return f"{value:.{digits}g}"


def size(value: Any) -> str:
    """Bytes in binary units: 16927904 → '16.1 MiB'."""
    if abs(value) >= 1024**5:
        return f"{_scientific(value)} B"
    value = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def shape(value: Any) -> str:
    return show_shape(value)


def wrap(text: str, width: int = 100) -> str:
    """A long line folded to fit a terminal of ``width`` columns."""
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width, subsequent_indent="  ")) or str(text)


def percent(part: Any, whole: Any) -> str:
    return f"{float(100 * Fraction(part) / Fraction(whole)):.1f} %" if whole else "—"


def table(items: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """A terminal table with aligned columns (tabulate does the layout).

    ``columns`` are (header, key, format) triples; format is '' (text), 'num' (as is, right-aligned)
    or a filter name; numbers are right-aligned.
    """
    from tabulate import tabulate

    formats: dict[str, Callable[[Any], str]] = {
        "": str,
        "num": str,
        "thousands": thousands,
        "si": si,
        "size": size,
        "shape": shape,
    }
    rows = [[formats[fmt](item[key]) for _, key, fmt in columns] for item in items]
    align = tuple("right" if fmt in ("num", "thousands", "si", "size") else "left" for _, _, fmt in columns)
    headers = [header for header, _, _ in columns]
    return tabulate(rows, headers=headers, tablefmt="simple", colalign=align, disable_numparse=True)


def md_text(value: Any) -> str:
    """Text from a spec or a file for Markdown: HTML's special characters as entities (a viewer that
    renders raw HTML shows them as text), table pipes escaped, one line."""
    text = " ".join(str(value).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def md_code(value: Any) -> str:
    """Text for a Markdown code span: it cannot close the span or split a table cell."""
    return " ".join(str(value).split()).replace("`", "'").replace("|", "\\|")


@cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "html.j2"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(thousands=thousands, si=si, size=size, shape=shape, wrap=wrap, md=md_text, md_code=md_code)
    env.globals.update(percent=percent, table=table)
    return env


def render(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(**context)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


COMPARISON_COLUMNS = [
    ("model", "model", ""),
    ("α", "alpha", "num"),
    ("input", "resolution", "num"),
    ("params", "params", "thousands"),
    ("MACs", "macs", "thousands"),
    ("size (fp32)", "size", "size"),
    ("peak act.", "peak", "size"),
    ("min input", "min_resolution", "num"),
    ("top-1 %", "top1", "num"),
]


def with_type_rows(context: dict[str, Any]) -> dict[str, Any]:
    """The report context plus the by-type breakdown as sorted rows (largest MAC share first)."""
    total = context["macs"]
    rows = [
        {"type": label, **row, "macs_share": percent(row["macs"], total)}
        for label, row in context["by_op_type"].items()
    ]
    rows.sort(key=lambda r: (-r["macs"], -r["params"], r["type"]))
    return {**context, "by_op_type_rows": rows}
