"""What the HTML and Markdown reports add to the plain report context: charts, formulas, a diagram,
the layers of each block, and a footer saying what made the page.

The JSON stays the plain context (:func:`costmodel.report.report_context`); the pages take these
extras. Charts need matplotlib (the ``charts`` extra); without it the page says what it would show.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sympy
from markupsafe import Markup

from costmodel import charts, symbolic
from costmodel.conventions import Counting
from costmodel.errors import UserError
from costmodel.model import Model, Point


def page_context(
    context: Mapping[str, Any],
    model: Model,
    point: Point,
    counting: Counting | str,
    *,
    command: str = "",
    date: str | None = None,
    with_charts: bool = True,
    drawer: charts.Drawer | None = None,
) -> dict[str, Any]:
    from costmodel.version import __version__

    page = dict(context)
    page["layers_by_block"] = _layers_by_block(context)
    page["mermaid"] = charts.mermaid(context["blocks"])
    page["charts"] = {}
    page["charts_missing"] = with_charts and not charts.available()
    if with_charts and charts.available():

        def curves() -> list[dict[str, Any]]:  # worked out while the charts of the blocks are drawn
            page["formulas"] = _formulas(model, point, counting)
            return charts.scaling_data(model, point, counting)

        try:
            drawn = (drawer or charts.Drawer()).draw(context["blocks"], page.get("by_op_type_rows", []), curves)
            page["charts"] = {name: _generated(svg) for name, svg in drawn.items()}
        except (OverflowError, ValueError, UserError):  # counts past what a float can draw
            page["charts"] = {}
            page["charts_missing"] = False
    elif drawer is not None:
        drawer.close()
    if "formulas" not in page:
        page["formulas"] = _formulas(model, point, counting)
    page["footer"] = {"version": __version__, "command": command, "date": date}
    return page


def _generated(markup: str) -> Markup:
    """SVG from matplotlib and MathML from sympy, put in the page as they are: matplotlib escapes the
    text it draws (block names come from specs and ONNX files), and MathML holds only the spec's
    symbol names, which are identifiers; nothing else of the user's reaches them."""
    return Markup(markup)  # noqa: S704 - see the docstring


def _layers_by_block(context: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each block's layers, in order; a zero-cost layer folded into the block before it goes with it."""
    names = [row["name"] for row in context["blocks"]]
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    current = names[0] if names else None
    for layer in context["layers"]:
        owner = next((n for n in names if layer["name"] == n or layer["name"].startswith(n + ".")), None)
        current = owner or current
        if current is not None:
            found[current].append(layer)
    return found


# Past this many named quantities the exact form is a page of its own (EfficientNet names hundreds):
# the report says so and points to `expr`, which prints it.
EXACT_LINES_SHOWN = 60


def _formulas(model: Model, point: Point, counting: Counting | str) -> dict[str, Any]:
    """The exact MACs (named quantities and total) and the smooth laws of MACs and parameters, as
    MathML and as LaTeX (for Markdown's math blocks)."""
    result: dict[str, Any] = {}
    for metric in ("macs", "params"):
        law = symbolic.smooth(model, metric, counting, at=point)
        result[metric] = {
            "smooth_mathml": _generated(_mathml_lines([(sympy.Symbol(metric), law)])),
            "smooth_latex": f"{metric} = {sympy.latex(law)}",
            "smooth_text": sympy.sstr(law),
        }
    form = symbolic.form(model, "macs", counting)
    used = form.used([form.body])
    result["macs"].update(exact_quantities=len(used), exact_mathml=None, exact_latex=None)
    if len(used) <= EXACT_LINES_SHOWN:
        lines = [*((sympy.Symbol(str(s)), d) for s, d in used.items()), (sympy.Symbol("total"), form.body)]
        result["macs"]["exact_mathml"] = _generated(_mathml_lines(lines))
        result["macs"]["exact_latex"] = "\\\\\n".join(f"{sympy.latex(s)} &= {sympy.latex(d)}" for s, d in lines)
    return result


def _mathml_lines(lines: list[tuple[Any, Any]]) -> str:
    from sympy.printing.mathml import mathml

    rows = "".join(
        f"<mtr><mtd>{mathml(s, printer='presentation')}</mtd><mtd><mo>=</mo></mtd>"
        f"<mtd>{mathml(d, printer='presentation')}</mtd></mtr>"
        for s, d in lines
    )
    return f'<math display="block"><mtable columnalign="right center left">{rows}</mtable></math>'


def write_chart_files(page: Mapping[str, Any], target: str) -> dict[str, str]:
    """The charts as SVG files beside a Markdown report (``report.md`` -> ``report_blocks.svg``...);
    returns chart name -> the file name the Markdown links."""
    from costmodel.atomic_write import write_text

    path = Path(target)
    names = {}
    for name, svg in page.get("charts", {}).items():
        file = path.with_name(f"{path.stem}_{name}.svg")
        write_text(file, '<?xml version="1.0" encoding="utf-8"?>\n' + str(svg))
        names[name] = file.name
    return names


class Report:
    """A model's report in a notebook: ``Report(model, point)`` shows the HTML page (Jupyter calls
    ``_repr_html_``), ``.markdown()`` and ``.context`` give the Markdown and the plain dict."""

    def __init__(self, model: Model, point: Point | None = None, counting: Counting | str = "torchvision") -> None:
        from costmodel.render import with_type_rows
        from costmodel.report import display_rows, report_context

        self.model, self.point, self.counting = model, point or model.default_point(), counting
        self.context = report_context(model, self.point, counting)
        self._page_input = with_type_rows({**self.context, "rows": display_rows(self.context)})

    def __repr__(self) -> str:
        c = self.context
        return f"<Report of {c['model']}: {c['params']:,} params, {c['macs']:,} MACs at {self.point.label} px>"

    def _page(self, with_charts: bool) -> dict[str, Any]:
        return page_context(self._page_input, self.model, self.point, self.counting, with_charts=with_charts)

    def _repr_html_(self) -> str:
        from costmodel.render import render

        return render("report.html.j2", self._page(with_charts=True))

    def markdown(self) -> str:
        from costmodel.render import render

        return render("report.md.j2", {**self._page(with_charts=False), "chart_files": {}})

    def _repr_markdown_(self) -> str:
        return self.markdown()
