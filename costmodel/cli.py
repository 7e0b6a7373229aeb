"""The ``costmodel`` command line: a thin layer over the Python API.

User mistakes (bad specs, bad options) print one line, ``error: FILE:LINE: layer 'NAME': ...``, and
exit with status 2; nothing is written. Only internal bugs may show a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from costmodel import conventions
from costmodel.errors import SpecError, UsageError

EXIT_USAGE = 2
EXIT_MISMATCH = 1


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user errors into one line on stderr and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SpecError as err:
            _fail(str(err))
        except RecursionError:
            _fail("the spec nests too deeply to evaluate")

    return wrapper


def _parse_sets(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"--set takes name=value, got {pair!r}")
        values[name.strip()] = value.strip()
    return values


def point_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--alpha, --res/--rho, --classes and --set, shared by every command that takes a point."""
    options = [
        click.option("--alpha", help="Width multiplier α (e.g. 0.75)."),
        click.option(
            "--res",
            "resolution",
            help="Input side in pixels (e.g. 192); sets ρ = res / the spec's base side (224 for the built-ins).",
        ),
        click.option("--rho", help="Resolution multiplier ρ; the input side is rounded to whole pixels."),
        click.option("--classes", help="Number of classes (num_classes)."),
        click.option(
            "--set",
            "sets",
            multiple=True,
            metavar="NAME=VALUE",
            help="Any other spec symbol, e.g. --set sr=0.25.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _point(model: Any, alpha: Any, resolution: Any, rho: Any, classes: Any, sets: tuple[str, ...]) -> Any:
    return model.point(alpha=alpha, resolution=resolution, rho=rho, classes=classes, values=_parse_sets(sets))


def _write(text: str, output: str | None) -> None:
    """Print, or write the whole file at once (never a partial file)."""
    if output is None:
        click.echo(text, nl=False)
        return
    target = Path(output)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except OSError as err:
        raise UsageError(f"cannot write {output}: {err.strerror}") from None


variant_option = click.option(
    "--variant", help="A named variant of the spec (e.g. keras: the Keras implementation's rounding)."
)

counting_option = click.option(
    "--counting",
    type=click.Choice(list(conventions.PRESETS)),
    default=conventions.DEFAULT,
    show_default=True,
    help="Which weight arrays count as parameters.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costmodel")
def main() -> None:
    """Exact parameter, multiply-add and memory counts of SqueezeNet and the MobileNets.

    MODEL is a built-in name (see `costmodel list`) or the path of a YAML spec.
    """


@main.command("list")
@click.option("--details", is_flag=True, help="Every model at its default point: the family on one screen.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@user_errors
def list_models(details: bool, fmt: str) -> None:
    """The built-in models and their aliases (with --details, their costs side by side)."""
    from costmodel.model import ALIASES, load_model
    from costmodel.render import table, to_json
    from costmodel.resources import builtin_names

    if details:
        _print_comparison(builtin_names(), None, None, (), None, conventions.DEFAULT, fmt)
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
    columns = [
        ("model", "model", ""),
        ("title", "title", ""),
        ("aliases", "aliases", ""),
        ("variants", "variants", ""),
        ("symbols", "symbols", ""),
    ]
    click.echo(table(rows, columns))


TABLE_FORMATS = ["table", "md", "html", "csv", "latex", "json"]


@main.command("table")
@click.argument("models", nargs=-1, metavar="[MODEL]...")
@click.option("--alpha", help="Width multiplier(s), comma-separated: --alpha 0.35,0.5,0.75,1.0.")
@click.option("--res", "resolution", help="Input side(s), comma-separated: --res 128,160,192,224.")
@click.option(
    "--set", "sets", multiple=True, metavar="NAME=VALUE", help="Any other spec symbol (where a model has it)."
)
@variant_option
@counting_option
@click.option("--format", "fmt", type=click.Choice(TABLE_FORMATS), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@user_errors
def table_command(
    models: tuple[str, ...],
    alpha: str | None,
    resolution: str | None,
    sets: tuple[str, ...],
    variant: str | None,
    counting: str,
    fmt: str,
    output: str | None,
) -> None:
    """Configurations side by side, for choosing one and for documentation tables.

    Without MODEL, every built-in model. Every combination of the given α and resolutions is a row;
    a symbol a model does not have (α for SqueezeNet) is left at that model's default.
    """
    from costmodel.resources import builtin_names

    _print_comparison(list(models) or builtin_names(), alpha, resolution, sets, variant, counting, fmt, output)


def _print_comparison(
    names: list[str],
    alpha: str | None,
    resolution: str | None,
    sets: tuple[str, ...],
    variant: str | None,
    counting: str,
    fmt: str,
    output: str | None = None,
) -> None:
    from costmodel import render
    from costmodel.compare import comparison_rows, headline, split_values
    from costmodel.model import load_model

    models = [load_model(name, variant) for name in names]
    rows = comparison_rows(
        models, split_values(alpha, "--alpha"), split_values(resolution, "--res"), _parse_sets(sets), counting
    )
    if fmt == "json":
        _write(render.to_json(rows), output)
        return
    lines = [headline(row) for row in rows]
    if fmt == "csv":
        _write(render.to_csv(lines), output)
    elif fmt == "table":
        _write(render.table(lines, render.COMPARISON_COLUMNS) + "\n", output)
    else:
        template = {"md": "table.md.j2", "html": "table.html.j2", "latex": "table.tex.j2"}[fmt]
        _write(render.render(template, {"rows": lines, "counting": rows[0]["conventions"] if rows else {}}), output)


@main.command()
@click.argument("model_name", metavar="MODEL")
@point_options
@variant_option
@counting_option
@click.option("--format", "fmt", type=click.Choice(["table", "md", "html", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@user_errors
def report(
    model_name: str,
    alpha: Any,
    resolution: Any,
    rho: Any,
    classes: Any,
    sets: tuple[str, ...],
    variant: str | None,
    counting: str,
    fmt: str,
    output: str | None,
) -> None:
    """Parameters, MACs and memory of MODEL at one point, per layer and in total."""
    from costmodel.model import load_model
    from costmodel.report import report_context

    model = load_model(model_name, variant)
    point = _point(model, alpha, resolution, rho, classes, sets)
    context = report_context(model, point, counting)
    _write(_render_report(context, fmt), output)


def _render_report(context: dict[str, Any], fmt: str) -> str:
    from costmodel import render

    if fmt == "json":
        return render.to_json(context)
    template = {"table": "report.txt.j2", "md": "report.md.j2", "html": "report.html.j2"}[fmt]
    return render.render(template, render.with_type_rows(context))


@main.command()
@click.argument("model_name", metavar="MODEL")
@click.option(
    "--metric", type=click.Choice(["params", "macs", "flops", "other_ops"]), default="macs", show_default=True
)
@counting_option
@click.option("--per-layer", is_flag=True, help="One closed form per layer.")
@click.option("--per-type", is_flag=True, help="One closed form per operator type.")
@click.option("--smooth", is_flag=True, help="Relax the rounding: the scaling law, leading terms first.")
@click.option("--format", "fmt", type=click.Choice(["text", "latex", "json"]), default="text", show_default=True)
@point_options
@variant_option
@user_errors
def expr(
    model_name: str,
    metric: str,
    counting: str,
    per_layer: bool,
    per_type: bool,
    smooth: bool,
    fmt: str,
    alpha: Any,
    resolution: Any,
    rho: Any,
    classes: Any,
    sets: tuple[str, ...],
    variant: str | None,
) -> None:
    """The closed form of MODEL's params or MACs in its symbols.

    Exact by default: floors, ceilings and conditions included, so it equals the count at every valid
    point. Point options fix some symbols (what-if: `--res 160` leaves a formula in α).
    """
    from costmodel.expression_view import expression_output
    from costmodel.model import load_model

    model = load_model(model_name, variant)
    fixed = _fixed_symbols(model, alpha, resolution, rho, classes, sets)
    text = expression_output(
        model, metric, counting, fixed, per_layer=per_layer, per_type=per_type, smooth=smooth, fmt=fmt
    )
    click.echo(text, nl=False)


def _fixed_symbols(model: Any, alpha: Any, resolution: Any, rho: Any, classes: Any, sets: tuple[str, ...]) -> dict:
    """Only the symbols the user gave, validated through a full point."""
    given = _parse_sets(sets)
    point = _point(model, alpha, resolution, rho, classes, sets)
    model.network(point)  # a point the network cannot run at (too small an input) is an error here too
    names = set(given)
    if alpha is not None:
        names.add("alpha")
    if classes is not None:
        names.add("num_classes")
    if resolution is not None or rho is not None:
        names.add("rho")
    return {name: point.values[name] for name in names}


@main.command()
@click.argument("specs", nargs=-1, metavar="[SPEC]...")
@click.option("--quiet", "-q", is_flag=True, help="Only print failures and the summary.")
@user_errors
def check(specs: tuple[str, ...], quiet: bool) -> None:
    """Validate specs and compare their reference rows with the counts (default: every built-in)."""
    from costmodel.model import load_model
    from costmodel.references import check_references
    from costmodel.resources import builtin_names

    names = list(specs) or builtin_names()
    failed = total = 0
    for name in names:
        model = load_model(name)
        checks = check_references(model)
        for c in checks:
            total += 1
            failed += not c.ok
            if quiet and c.ok:
                continue
            status = "ok  " if c.ok else "FAIL"
            actual = f"{c.actual:,}" if isinstance(c.actual, int) else f"{c.actual:.4g}"
            line = f"{status} {model.spec.file}:{c.line}: {c.figure} = {actual} (published {c.expected}; {c.source})"
            if c.note:
                line += f"\n     disagreement: {c.note}"
            click.echo(line)
        if not checks and not quiet:
            click.echo(f"valid {model.spec.file} (no reference rows)")
    click.echo(f"{total - failed} passed, {failed} failed")
    if failed:
        sys.exit(EXIT_MISMATCH)


if __name__ == "__main__":  # pragma: no cover
    main()
