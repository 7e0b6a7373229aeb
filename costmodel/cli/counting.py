"""The counting commands: ``list``, ``report`` and ``table``, the numbers of one model or of many."""

from __future__ import annotations

import click

from costmodel import conventions
from costmodel.cli.options import (
    Destination,
    counting_option,
    counting_options,
    model_argument,
    output_options,
    parse_sets,
    point_options,
    user_errors,
    variant_option,
)
from costmodel.conventions import Counting
from costmodel.model import Model, Point, PointOptions

REPORT_FORMATS = ("table", "md", "html", "json")
TABLE_FORMATS = ("table", "md", "html", "csv", "latex", "json")
LIST_COLUMNS = [
    ("model", "model", ""),
    ("title", "title", ""),
    ("aliases", "aliases", ""),
    ("variants", "variants", ""),
    ("symbols", "symbols", ""),
]


@click.command("list")
@user_errors
@click.option("--details", is_flag=True, help="Every model at its default point: the family on one screen.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_models(details: bool, fmt: str) -> None:
    """The built-in models and their aliases (with --details, their costs side by side)."""
    from costmodel.loading import ALIASES, load_model
    from costmodel.render import COMPARISON_COLUMNS, table, to_json
    from costmodel.resources import builtin_names

    if details:  # every model at its default point, one row each
        from costmodel.compare import comparison_rows, headline

        default = conventions.get_counting(conventions.DEFAULT)
        found = comparison_rows([load_model(name) for name in builtin_names()], [None], [None], {}, default)
        text = to_json(found) if fmt == "json" else table([headline(r) for r in found], COMPARISON_COLUMNS) + "\n"
        Destination(fmt).write(text)
        return
    rows = []
    for name in builtin_names():
        model = load_model(name)
        aliases = [alias for alias, target in ALIASES.items() if target == name]
        rows.append(
            {
                "model": name,
                "title": model.spec.title,
                "aliases": ", ".join(aliases),
                "variants": ", ".join(model.spec.variants),
                "symbols": ", ".join(model.spec.symbols),
                "source": model.spec.source,
            }
        )
    if fmt == "json":
        click.echo(to_json(rows), nl=False)
        return
    click.echo(table(rows, LIST_COLUMNS))


@click.command("table")
@user_errors
@click.argument("models", nargs=-1, metavar="[MODEL]...")
@click.option("--alpha", help="Width multiplier(s): a list or start:stop:step, e.g. 0.35,0.5,0.75,1.0.")
@click.option("--res", "resolution", help="Input side(s): a list or start:stop:step, e.g. 96:224:32.")
@click.option(
    "--set", "sets", multiple=True, metavar="NAME=VALUE", help="Any other spec symbol (where a model has it)."
)
@click.option(
    "--metrics",
    help="Columns: macs, params, flops, size, peak, min_resolution, top1, top5, latency "
    "[default: macs,params,size,peak,min_resolution,top1].",
)
@click.option("--units", type=click.Choice(["", "K", "M", "G"]), default="", help="Counts in thousands, millions...")
@click.option("--decimals", type=click.IntRange(min=0, max=6), help="Decimals of every number column.")
@click.option("--source", help="The published accuracy from the source that contains this text.")
@click.option("--pivot", is_flag=True, help="α down, resolution across, one table per metric (as the papers print).")
@variant_option
@counting_option
@output_options(TABLE_FORMATS, default="table")
def table_command(
    models: tuple[str, ...],
    alpha: str | None,
    resolution: str | None,
    sets: tuple[str, ...],
    metrics: str | None,
    units: str,
    decimals: int | None,
    source: str | None,
    pivot: bool,
    variant: str | None,
    counting: Counting,
    output: Destination,
) -> None:
    """Configurations side by side, for choosing one and for documentation tables.

    Without MODEL, every built-in model. Every combination of the given α and resolutions is a row;
    a symbol a model does not have (α for SqueezeNet) is left at that model's default. Columns that
    are the same on every row are left out; unknown values are empty. --pivot prints the MobileNet
    paper's way: e.g. `table mobilenet --alpha 1,0.75,0.5,0.25 --res 224,192,160,128 --pivot
    --metrics top1,macs,params --units M --source Howard`.
    """
    from costmodel import doc_tables
    from costmodel.compare import comparison_rows, split_values
    from costmodel.loading import load_model
    from costmodel.render import to_json
    from costmodel.resources import builtin_names

    loaded = [load_model(name, variant) for name in (list(models) or builtin_names())]
    alphas, sides = split_values(alpha, "--alpha"), split_values(resolution, "--res")
    rows = comparison_rows(loaded, alphas, sides, dict(parse_sets(sets)), counting)
    if output.fmt == "json":
        output.write(to_json(rows))
        return
    wanted = doc_tables.parse_metrics(metrics)
    records = doc_tables.records(rows, source)
    separators = output.fmt != "csv"
    grids: list[tuple[str, list[str], list[list[str]]]] = []
    if pivot:
        for metric in wanted:
            for model, (headers, body) in doc_tables.pivot(records, metric, units, decimals, separators).items():
                header = doc_tables.columns([metric], units, decimals)[0].header
                grids.append((f"{model}: {header}", headers, body))
    else:
        headers, body = doc_tables.long_table(records, wanted, units, decimals, separators)
        grids.append(("", headers, body))
    conventions = rows[0]["conventions"] if rows else {}
    note = f"Parameters counted as {conventions.get('counting', '')}: {conventions.get('params', '')}." if rows else ""
    if counting.macs.rules:
        note += f" {conventions.get('macs', '')}."
    output.write(doc_tables.render(grids, output.fmt, note))


@click.command()
@user_errors
@model_argument
@point_options
@variant_option
@counting_options(all_conventions=True)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Group layers this many levels down the spec's blocks (1: a fire module, an inverted residual).",
)
@click.option(
    "--layers",
    "layer_view",
    type=click.Choice(["blocks", "all"]),
    default="blocks",
    show_default=True,
    help="all: one row per layer instead of per block.",
)
@click.option(
    "--activation-dtype",
    type=click.Choice(["float32", "float16", "int8"]),
    default="float32",
    show_default=True,
    help="The type the activation bytes (peak and per block) are counted at.",
)
@click.option("--no-charts", is_flag=True, help="HTML and Markdown without the charts (no matplotlib needed).")
@click.option(
    "--date", "dated", is_flag=True, help="Date the page's footer (left out by default: pages stay the same)."
)
@output_options(REPORT_FORMATS, default="table")
def report(
    model_name: str,
    point: PointOptions,
    variant: str | None,
    counting: Counting,
    all_conventions: bool,
    depth: int,
    layer_view: str,
    activation_dtype: str,
    no_charts: bool,
    dated: bool,
    output: Destination,
) -> None:
    """Parameters, MACs and memory of MODEL at one point, per block (or per layer) and in total.

    The HTML page adds charts (with the charts extra), the closed forms, a diagram of the blocks and
    a table whose blocks open into their layers; Markdown adds the formulas in LaTeX, a Mermaid
    diagram and, with -o, the charts as SVG files beside it.
    """
    import datetime

    from costmodel import render
    from costmodel.loading import load_model
    from costmodel.report import display_rows, report_context

    model = point.reshape(load_model(model_name, variant))
    at = point.resolve(model)
    if all_conventions:
        _all_conventions(model, at, counting, output)
        return
    drawn = not no_charts and (output.fmt == "html" or (output.fmt == "md" and output.path is not None))
    drawer = None
    if drawn:  # the charts (and sympy, numpy) load only for the pages that show them
        from costmodel import charts

        drawer = charts.Drawer.start() if charts.available() else None  # matplotlib loads meanwhile
    context = report_context(model, at, counting, None if layer_view == "all" else depth, activation_dtype)
    if output.fmt == "json":
        output.write(render.to_json(context))
        return
    context = render.with_type_rows({**context, "rows": display_rows(context)})
    if output.fmt == "table":
        output.write(render.render("report.txt.j2", context))
        return
    from costmodel.page import page_context, write_chart_files

    command = " ".join(["costmodel report", model_name, *_given(point, variant, counting), "--format", output.fmt])
    date = datetime.date.today().isoformat() if dated else None
    page = page_context(context, model, at, counting, command=command, date=date, with_charts=drawn, drawer=drawer)
    if output.fmt == "md":
        page["chart_files"] = write_chart_files(page, output.path) if output.path else {}
        output.write(render.render("report.md.j2", page))
    else:
        output.write(render.render("report.html.j2", page))


def _all_conventions(model: Model, at: Point, counting: Counting, output: Destination) -> None:
    """``report --conventions all``: every MACs convention's total at one point, side by side."""
    from costmodel.doc_tables import render as render_grids
    from costmodel.explain import side_by_side, side_by_side_grid
    from costmodel.render import to_json

    rows = side_by_side(model, at, counting)
    if output.fmt == "json":
        output.write(to_json(rows))
        return
    headers, body = side_by_side_grid(rows)
    at_point = f" at {at.symbols_text}" if at.values else ""
    title = f"{model.name}{at_point}: MACs under every convention (`costmodel conventions` lists the rules)"
    output.write(render_grids([(title, headers, body)], output.fmt))


def _given(point: PointOptions, variant: str | None, counting: Counting) -> list[str]:
    """The options a user gave, as the footer repeats the command."""
    words = []
    for option, value in (("--alpha", point.alpha), ("--res", point.resolution), ("--rho", point.rho)):
        if value is not None:
            words += [option, value]
    if point.classes is not None:
        words += ["--classes", point.classes]
    words += [f"--set {name}={value}" for name, value in point.values]
    if variant:
        words += ["--variant", variant]
    if counting.name != "torchvision":
        words += ["--counting", counting.name]
    if counting.macs.rules:
        words += ["--conventions", counting.macs.name]
    return words  # (--activation-dtype and the view options change what is shown, not what is counted)


COMMANDS: tuple[click.Command, ...] = (list_models, table_command, report)
