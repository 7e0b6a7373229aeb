"""The exploring commands: ``sweep`` (dense grids), ``sensitivity`` (elasticities), ``compare`` (side by
side) and ``layer`` (one layer's costs)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from costmodel.cli.options import (
    OUTPUT_FILE,
    Destination,
    counting_option,
    model_argument,
    output_options,
    parse_sets,
    point_options,
    user_errors,
    variant_option,
)
from costmodel.conventions import Counting
from costmodel.model import PointOptions


@click.command()
@user_errors
@model_argument
@click.option("--alpha", help="Widths: start:stop:step and/or a comma-separated list, e.g. 0.1:1.4:0.01.")
@click.option("--res", "resolution", help="Input sides: start:stop:step and/or a list, e.g. 96:320:8.")
@click.option(
    "--metrics",
    default="macs,params",
    show_default=True,
    help="Comma-separated: macs, params, flops, other_ops, size, peak_memory.",
)
@click.option("--dtype", type=click.Choice(["float32", "float16", "int8"]), default="float32", show_default=True)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Any other spec symbol.")
@variant_option
@counting_option
@output_options(["csv", "json"], default="csv")
def sweep(
    model_name: str,
    alpha: str | None,
    resolution: str | None,
    metrics: str,
    dtype: str,
    sets: tuple[str, ...],
    variant: str | None,
    counting: Counting,
    output: Destination,
) -> None:
    """Exact costs of MODEL on a grid of α × resolution, from the compiled closed forms.

    One row per combination (α varying slowest). On a terminal a progress bar shows on stderr for
    large grids; piped, nothing but the data is written.
    """
    from costmodel.compare import split_values
    from costmodel.loading import load_model
    from costmodel.model import with_aspect_of
    from costmodel.sweep import sweep as run_sweep
    from costmodel.sweep import to_csv

    model, sides = with_aspect_of(load_model(model_name, variant), split_values(resolution, "--res"))
    alphas = split_values(alpha, "--alpha")
    wanted = [m.strip() for m in metrics.split(",") if m.strip()]
    total = max(1, len([a for a in alphas if a is not None])) * max(1, len([s for s in sides if s is not None]))
    show = sys.stderr.isatty() and total >= 200_000
    with click.progressbar(length=total, label="sweeping", file=sys.stderr) if show else _Quiet() as bar:
        result = run_sweep(
            model,
            alphas,
            sides,
            wanted,
            values=dict(parse_sets(sets)),
            counting=counting,
            dtype=dtype,
            progress=bar.update,
        )
    if output.fmt == "json":
        output.write(json.dumps(result.to_records()) + "\n")
    else:
        output.write(to_csv(result))


class _Quiet:
    """A progress bar that shows nothing (piped output, small grids)."""

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: int) -> None:
        return None


@click.command()
@user_errors
@model_argument
@point_options
@variant_option
@counting_option
@click.option("--epsilon", default="0.1", show_default=True, help="The relative step of the exact finite ratios.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def sensitivity(
    model_name: str, point: PointOptions, variant: str | None, counting: Counting, epsilon: str, fmt: str
) -> None:
    """How MACs, params, size and peak memory move with α and the resolution at one point.

    Elasticities d ln(cost) / d ln(s): from the smooth form, and as exact ratios of counts across
    s·(1 - ε) .. s·(1 + ε).
    """
    from costmodel.loading import load_model
    from costmodel.render import table
    from costmodel.sensitivity import elasticities

    model = point.reshape(load_model(model_name, variant))
    at = point.resolve(model)
    found = elasticities(model, at, counting, epsilon)
    if fmt == "json":
        click.echo(json.dumps([e.record() for e in found], indent=2))
        return
    click.echo(f"{model.name} at {_where(at)}: elasticities d ln(cost) / d ln(symbol)")
    rows = [
        {
            "metric": e.metric,
            "symbol": e.symbol,
            "smooth": "—" if e.smooth is None else f"{e.smooth:.3f}",
            "exact": f"{e.exact:.3f}",
            "ratio": f"{float(e.ratio):.4f} over ×{float(e.factor):.4g}",
        }
        for e in found
    ]
    columns = [("metric", "metric", ""), ("in", "symbol", ""), ("smooth law", "smooth", "num")]
    columns += [("exact", "exact", "num"), ("counts", "ratio", "num")]
    click.echo(table(rows, columns))


def _where(point: Any) -> str:
    parts = [f"{k} = {float(v):g}" for k, v in point.values.items()]
    return ", ".join(parts) + (f" ({point.label} px)" if point.label else "")


@click.command()
@user_errors
@click.argument("configs", nargs=-1, required=True, metavar="MODEL[@key=value,...]...")
@counting_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def compare(configs: tuple[str, ...], counting: Counting, fmt: str) -> None:
    """Models side by side, with Δ and ratio columns against the first.

    Each is a model or a configured model: mobilenet_v1@alpha=0.5,res=160, squeezenet1_0,
    my.yaml@variant=separable, model.onnx. Totals first, then MACs and parameters per operator type.
    """
    from costmodel.render import table
    from costmodel.side_by_side import compare as side_by_side

    result = side_by_side(configs, counting)
    if fmt == "json":
        data = {
            "totals": result.totals(),
            "macs_by_type": result.by_type("macs"),
            "params_by_type": result.by_type("params"),
        }
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    names = [c.text for c in result.configured]

    def columns(first: str, key: str) -> list[tuple[str, str, str]]:
        cols = [(first, key, "")] + [(n, n, "thousands") for n in names]
        return cols + [(f"× {n}", f"× {n}", "") for n in names[1:]]

    def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def shown(key: str, value: Any) -> Any:
            if not key.startswith("×"):
                return value
            return "—" if value is None else f"{value:.4g}"

        return [{k: shown(k, v) for k, v in r.items()} for r in rows]

    click.echo(table(ratios(result.totals()), columns("total", "metric")))
    click.echo("\nMACs by operator type:")
    click.echo(table(ratios(result.by_type("macs")), columns("type", "type")))
    click.echo("\nparameters by operator type:")
    click.echo(table(ratios(result.by_type("params")), columns("type", "type")))


@click.group()
def layer() -> None:
    """One layer's costs: a convolution (and its depthwise-separable version), a fire module, an
    inverted residual."""


def _layer_output(rows: list[Any], fmt: str, extra: dict[str, Any] | None = None) -> None:
    from costmodel.ops.base import show_shape
    from costmodel.render import table

    if fmt == "json":
        click.echo(json.dumps({"layers": [r.record() for r in rows], **(extra or {})}, indent=2))
        return
    records = [{**r.record(), "output": show_shape(r.output)} for r in rows]
    columns = [("layer", "layer", ""), ("weights", "weights", "thousands"), ("params", "params", "thousands")]
    columns += [("MACs", "macs", "thousands"), ("output", "output", "")]
    click.echo(table(records, columns))


@layer.command("conv")
@user_errors
@click.option("--k", type=int, required=True, help="Kernel side.")
@click.option("--cin", type=int, required=True, help="Input channels.")
@click.option("--cout", type=int, required=True, help="Output channels.")
@click.option("--hw", type=int, default=56, show_default=True, help="Input side.")
@click.option("--stride", type=int, default=1, show_default=True)
@click.option("--bias", is_flag=True, help="With a bias (on the pointwise conv of the separable version).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def layer_conv(k: int, cin: int, cout: int, hw: int, stride: int, bias: bool, fmt: str) -> None:
    """A k×k convolution beside its depthwise-separable version (depthwise k×k, one filter per input
    channel, then pointwise 1×1): the saving and its closed form 1/N + 1/k²."""
    from costmodel import single_layer

    standard, separable, ratio = single_layer.conv(k, cin, cout, hw, stride, bias)
    extra = {"ratio_weights": separable.weights / standard.weights, "closed_form": f"1/{cout} + 1/{k}^2 = {ratio}"}
    _layer_output([standard, separable], fmt, extra)
    if fmt != "json":
        click.echo(
            f"separable / standard: weights {separable.weights}/{standard.weights} = "
            f"{separable.weights / standard.weights:.4f}, MACs {separable.macs / standard.macs:.4f}; "
            f"closed form 1/N + 1/k² = 1/{cout} + 1/{k * k} = {ratio} ≈ {float(ratio):.4f}"
        )
        click.echo(
            f"(depthwise: {cin}·{k}·{k} = {cin * k * k} weights, one filter per input channel; "
            f"pointwise: {cin}·{cout} = {cin * cout})"
        )


@layer.command("fire")
@user_errors
@click.option("--cin", type=int, required=True, help="Input channels.")
@click.option("--s1x1", type=int, required=True, help="Squeeze filters.")
@click.option("--e1x1", type=int, required=True, help="Expand 1×1 filters.")
@click.option("--e3x3", type=int, required=True, help="Expand 3×3 filters.")
@click.option("--hw", type=int, default=56, show_default=True, help="Input side.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def layer_fire(cin: int, s1x1: int, e1x1: int, e3x3: int, hw: int, fmt: str) -> None:
    """SqueezeNet's fire module (squeeze 1×1, expand 1×1 and 3×3, concatenated) beside a plain 3×3
    conv to the same width."""
    from costmodel import single_layer

    module = single_layer.fire(s1x1, e1x1, e3x3, cin, hw)
    plain, _, _ = single_layer.conv(3, cin, e1x1 + e3x3, hw, 1, True)
    _layer_output([module, plain], fmt, {"ratio_params": module.params / plain.params})
    if fmt != "json":
        click.echo(f"fire / 3×3 conv: params {module.params / plain.params:.4f}, MACs {module.macs / plain.macs:.4f}")


@layer.command("inverted_residual")
@user_errors
@click.option("--cin", type=int, required=True, help="Input channels.")
@click.option("--t", type=int, required=True, help="Expansion ratio.")
@click.option("--cout", type=int, required=True, help="Output channels.")
@click.option("--stride", type=int, default=1, show_default=True)
@click.option("--hw", type=int, default=56, show_default=True, help="Input side.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def layer_inverted_residual(cin: int, t: int, cout: int, stride: int, hw: int, fmt: str) -> None:
    """MobileNet v2's inverted residual (expand 1×1 by t, depthwise 3×3, project 1×1, batch norms, and
    the residual add where stride is 1 and the widths agree)."""
    from costmodel import single_layer

    _layer_output([single_layer.inverted_residual(cin, t, cout, stride, hw)], fmt)


COMMANDS: tuple[click.Command, ...] = (sweep, sensitivity, compare, layer)


@click.command()
@user_errors
@model_argument
@click.option("--separable", "trick", flag_value="separable", help="k×k convolutions -> depthwise k×k + pointwise 1×1.")
@click.option(
    "--full-conv", "trick", flag_value="full_conv", help="Depthwise + pointwise pairs -> one k×k convolution."
)
@click.option("--fire", "fire_args", metavar="SR,PCT3X3", help="3×3 convolutions -> fire modules (e.g. 0.125,0.5).")
@click.option("--gap-head", "trick", flag_value="gap_head", help="Flatten + fully-connected head -> 1×1 conv + GAP.")
@click.option("--layers", "patterns", multiple=True, metavar="PATTERN", help="Only layers whose names match (glob).")
@point_options
@variant_option
@counting_option
@click.option("-o", "--output", type=OUTPUT_FILE, help="Write the rewritten spec to this file.")
def whatif(
    model_name: str,
    trick: str | None,
    fire_args: str | None,
    patterns: tuple[str, ...],
    point: PointOptions,
    variant: str | None,
    counting: Counting,
    output: str | None,
) -> None:
    """MODEL with one of the efficient-CNN tricks applied, before and after, and the new spec.

    Works on built-in models, spec files and ONNX files; the new spec (-o) keeps the model's symbols,
    so `report` and `verify` take it at any point.
    """
    from costmodel import atomic_write
    from costmodel.costs import activation_memory
    from costmodel.errors import UsageError
    from costmodel.loading import load_model
    from costmodel.render import table
    from costmodel.rewrite import apply

    if (trick is None) == (fire_args is None):
        raise UsageError("choose one trick: --separable, --full-conv, --fire SR,PCT3X3 or --gap-head")
    model = point.reshape(load_model(model_name, variant))
    if fire_args is not None:
        ratio, _, share = fire_args.partition(",")
        if not share:
            raise UsageError(f"--fire takes SR,PCT3X3 such as 0.125,0.5, got {fire_args!r}")
        rewritten = apply(model, "fire", list(patterns), ratio.strip(), share.strip())
        trick = "fire"
    else:
        rewritten = apply(model, str(trick), list(patterns))
    rows: list[dict[str, Any]] = []
    for name, which in (("before", rewritten.before), ("after", rewritten.after)):
        at = point.resolve(which)
        costs = which.costs(at, counting)
        rows.append(
            {
                "model": name,
                "layers": sum(1 for layer in costs.layers if layer.present is not False),
                "params": int(costs.params),
                "macs": int(costs.macs),
                "peak": activation_memory(costs)["peak_bytes"],
            }
        )
    before, after = rows
    rows.append(
        {
            "model": "after / before",
            "layers": "",
            **{k: f"{after[k] / before[k]:.4g}" if before[k] else "—" for k in ("params", "macs", "peak")},
        }
    )
    if output is not None:  # written before anything is printed: a failed write prints one line only
        atomic_write.write_text(output, rewritten.text)
    click.echo(f"{model.name} --{str(trick).replace('_', '-')} (counting: {counting.label}):")
    columns = [("", "model", ""), ("layers", "layers", "num"), ("params", "params", "thousands")]
    columns += [("MACs", "macs", "thousands"), ("peak act.", "peak", "thousands")]
    click.echo(table(rows[:2], columns) + "\n" + f"after / before: params {rows[2]['params']}, MACs {rows[2]['macs']}")
    if output is not None:
        click.echo(f"wrote {output}", err=True)


COMMANDS = (*COMMANDS, whatif)
