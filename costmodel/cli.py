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
from costmodel.errors import UsageError, UserError

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
        except UserError as err:
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
    from costmodel.loading import ALIASES, load_model
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
    from costmodel.loading import load_model

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
    from costmodel.loading import load_model
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
    from costmodel.loading import load_model

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
    from costmodel.loading import load_model
    from costmodel.references import check_references
    from costmodel.resources import builtin_names

    names = list(specs) or builtin_names()
    failed = total = 0
    for name in names:
        model = load_model(name)
        for variant in model.spec.variants:  # every variant must build too, not only those a row names
            load_model(name, variant)
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


@main.command()
@click.argument("model_name", metavar="MODEL")
@point_options
@variant_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the weights (as `costmodel run`).")
@click.option("--fold-bn", is_flag=True, help="Fold batch norms into the conv/linear before them (as deployed).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .onnx file to write.")
@user_errors
def export(
    model_name: str,
    alpha: Any,
    resolution: Any,
    rho: Any,
    classes: Any,
    sets: tuple[str, ...],
    variant: str | None,
    seed: int,
    fold_bn: bool,
    output: str,
) -> None:
    """Write MODEL at one point as ONNX (opset 17) with the executor's seeded weights.

    Node names are the layer names, weights are initializers named LAYER/ARRAY, the input is `input`
    (float32, N×C×H×W, any batch size). Needs the onnx extra: pip install 'costmodel[onnx]'.
    """
    from costmodel.onnx_common import require_onnx
    from costmodel.onnx_export import export_model

    require_onnx("costmodel export")
    from costmodel.loading import load_model

    model = load_model(model_name, variant)
    point = _point(model, alpha, resolution, rho, classes, sets)
    export_model(model, point, output, seed=seed, fold_bn=fold_bn)
    click.echo(f"wrote {output}", err=True)


VERIFY_COLUMNS = [
    ("layer", "layer", ""),
    ("check", "check", ""),
    ("executor", "executor", ""),
    ("count", "count", ""),
    ("closed form", "closed_form", ""),
]
VERIFY_LAYER_COLUMNS = [
    ("layer", "layer", ""),
    ("type", "op", ""),
    ("output", "output_shape", "shape"),
    ("params", "params", "thousands"),
    ("MACs", "macs", "thousands"),
    ("agrees with count and closed form", "verdict", ""),
]


@main.command()
@click.argument("model_name", metavar="[MODEL|PATH]", required=False)
@point_options
@variant_option
@counting_option
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every built-in model (or MODEL) and its variants at several points: odd resolutions, non-standard α.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the weights and the input.")
@user_errors
def verify(
    model_name: str | None,
    alpha: Any,
    resolution: Any,
    rho: Any,
    classes: Any,
    sets: tuple[str, ...],
    variant: str | None,
    counting: str,
    every: bool,
    seed: int,
) -> None:
    """Run MODEL in NumPy and check every layer against the counts and the closed forms.

    Per layer: output shape, parameters (every allocated array, and the --counting share) and MACs
    (from the operand shapes of the products the kernels ran), each against the count at the point
    and the exact closed form evaluated there. Exit 0 when all agree exactly, 1 with a table of the
    disagreements otherwise.
    """
    from costmodel import verify as verification
    from costmodel.loading import load_model
    from costmodel.render import table, thousands
    from costmodel.resources import builtin_names

    if every:
        if alpha is not None or resolution is not None or rho is not None or classes is not None or sets:
            raise UsageError("--all chooses its own points; leave out --alpha, --res, --rho, --classes and --set")
        runs = []
        for name in [model_name] if model_name else builtin_names():
            base = load_model(name)
            for chosen in [variant] if variant else [None, *base.spec.variants]:
                if chosen is None or chosen in base.spec.variants:
                    model = load_model(name, chosen)
                    runs += [(model, point) for point in verification.all_points(model)]
        if not runs:
            raise UsageError(f"no built-in model has a variant '{variant}'")
    else:
        if model_name is None:
            raise UsageError("name a MODEL (or PATH), or give --all")
        model = load_model(model_name, variant)
        runs = [(model, _point(model, alpha, resolution, rho, classes, sets))]
    failed = 0
    for model, point in runs:
        result = verification.verify(model, point, counting, seed)
        label = verification.point_label(model, point)
        if not every:
            click.echo(table(_verified_layers(result), VERIFY_LAYER_COLUMNS) + "\n")
        if result.ok:
            click.echo(
                f"{label}: {len(result.records)} layers, shapes, params and MACs agree "
                f"({thousands(result.macs)} MACs, {thousands(result.params)} params {counting})"
            )
            continue
        failed += 1
        rows = [
            {
                "layer": d.layer,
                "check": d.check,
                "executor": _cell(d.executor),
                "count": _cell(d.count),
                "closed_form": _cell(d.closed_form),
            }
            for d in result.disagreements
        ]
        click.echo(f"{label}: {len(rows)} disagreement{'s' if len(rows) != 1 else ''}")
        click.echo(table(rows, VERIFY_COLUMNS))
    if len(runs) > 1:
        click.echo(f"{len(runs) - failed} passed, {failed} failed")
    if failed:
        sys.exit(EXIT_MISMATCH)


def _verified_layers(result: Any) -> list[dict[str, Any]]:
    """One row per layer the executor ran: what it produced, allocated and multiplied, and whether
    each agrees with the count and the closed form ("yes", or the checks that do not)."""
    failing: dict[str, list[str]] = {}
    for d in result.disagreements:
        failing.setdefault(d.layer, []).append(d.check)
    network = result.model.network(result.point)
    labels = {node.name: node.op.type_label(list(node.input_shapes)) for node in network.nodes}
    return [
        {
            "layer": record.name,
            "op": labels.get(record.name, record.op),  # as the report names it: conv_dw3x3, fc, ...
            "output_shape": record.output_shape,
            "params": result.layer_params.get(record.name, record.params),
            "macs": record.macs,
            "verdict": "no: " + ", ".join(failing[record.name]) if record.name in failing else "yes",
        }
        for record in result.records
    ]


def _cell(value: Any) -> str:
    from costmodel.render import shape, thousands

    if isinstance(value, tuple):
        return shape(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return thousands(value)
    return str(value)


@main.command("run")
@click.argument("model_name", metavar="MODEL")
@point_options
@variant_option
@click.option(
    "--weights",
    "weights_path",
    type=click.Path(dir_okay=False),
    help="An .npz file keyed LAYER/ARRAY (e.g. conv1.conv/weight); default: the seeded weights.",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="An .npy array: (N, C, H, W) or one (C, H, W) image; a square image's side sets --res unless given.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the output array to this .npy file.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="Classes shown per image.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the weights without --weights.")
@user_errors
def run_command(
    model_name: str,
    alpha: Any,
    resolution: Any,
    rho: Any,
    classes: Any,
    sets: tuple[str, ...],
    variant: str | None,
    weights_path: str | None,
    input_path: str,
    output: str | None,
    top: int,
    seed: int,
) -> None:
    """Inference with NumPy alone: run MODEL on an image batch.

    Without --output, prints the output's shape and the top classes (index and value) of each image.
    """
    import numpy as np

    from costmodel import executor
    from costmodel.loading import load_model

    model = load_model(model_name, variant)
    x = executor.load_array_file(input_path, "the input")
    if not isinstance(x, np.ndarray):
        x.close()
        raise UsageError(f"{input_path} is an .npz archive; the input is one array in an .npy file (numpy.save)")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or not np.issubdtype(x.dtype, np.number):
        raise UsageError(f"{input_path}: expected an (N, C, H, W) or (C, H, W) array of numbers, got shape {x.shape}")
    if resolution is None and rho is None and model.base_resolution is not None and x.shape[2] == x.shape[3]:
        resolution = x.shape[2]
    point = _point(model, alpha, resolution, rho, classes, sets)
    network = model.network(point)
    weights = executor.load_weights(weights_path) if weights_path else executor.seeded_weights(network, seed)
    executor.check_weights(network, weights)
    y, _ = executor.forward(network, weights, x.astype(np.float32, copy=False))
    if output is not None:
        _write_array(y, output)
        return
    click.echo(f"output: {'×'.join(map(str, y.shape))} ({y.dtype})")
    flat = y.reshape(y.shape[0], -1)
    for i, row in enumerate(flat):
        best = np.argsort(-row, kind="stable")[:top]
        click.echo(f"image {i}: " + ", ".join(f"{int(j)} ({float(row[j]):.6g})" for j in best))


def _write_array(array: Any, output: str) -> None:
    """Save an .npy file whole (a temporary file, then renamed), as _write does for text."""
    import numpy as np

    target = Path(output)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array)
        os.replace(tmp, target)
    except OSError as err:
        raise UsageError(f"cannot write {output}: {err.strerror}") from None


if __name__ == "__main__":  # pragma: no cover
    main()
