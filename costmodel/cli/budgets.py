"""The budget commands: ``solve`` (the largest model that fits) and ``pick`` (the most accurate one)."""

from __future__ import annotations

import json
from typing import Any

import click

from costmodel.cli.options import counting_option, model_argument, parse_sets, user_errors, variant_option
from costmodel.conventions import Counting
from costmodel.errors import UsageError, show_number


def bound_options(command: Any) -> Any:
    """--max-macs, --max-params, --max-size (with --dtype) and --max-peak-memory."""
    options = [
        click.option("--max-macs", help="At most this many multiply-accumulates, e.g. 150M."),
        click.option("--max-params", help="At most this many parameters, e.g. 2M."),
        click.option("--max-size", help="At most this many bytes of weights at --dtype, e.g. 5MB or 4MiB."),
        click.option(
            "--dtype",
            type=click.Choice(["float32", "float16", "int8"]),
            default="float32",
            show_default=True,
            help="The weights' type for --max-size.",
        ),
        click.option("--max-peak-memory", help="At most this many bytes of float32 activations alive at once."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _limits(max_macs: Any, max_params: Any, max_size: Any, max_peak_memory: Any) -> dict[str, Any]:
    return {"macs": max_macs, "params": max_params, "size": max_size, "peak_memory": max_peak_memory}


@click.command()
@user_errors
@model_argument
@bound_options
@click.option("--alpha", help="Fix α and solve for the largest resolution.")
@click.option("--res", "resolution", help="Fix the input side and solve for the largest α.")
@click.option("--step", default="0.001", show_default=True, help="The α grid: the answer is a multiple of it.")
@click.option("--alpha-max", default="2", show_default=True, help="The largest α considered.")
@click.option("--res-step", type=click.IntRange(min=1), default=1, show_default=True, help="The resolution grid.")
@click.option(
    "--res-range",
    default="96:320:8",
    show_default=True,
    help="Resolutions of the frontier (start:stop:step or a list), when neither --alpha nor --res is given.",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Any other spec symbol.")
@variant_option
@counting_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def solve(
    model_name: str,
    max_macs: str | None,
    max_params: str | None,
    max_size: str | None,
    dtype: str,
    max_peak_memory: str | None,
    alpha: str | None,
    resolution: str | None,
    step: str,
    alpha_max: str,
    res_step: int,
    res_range: str,
    sets: tuple[str, ...],
    variant: str | None,
    counting: Counting,
    fmt: str,
) -> None:
    """The largest α (or resolution) of MODEL that meets every bound, exactly.

    Costs are step functions (widths and sides round): the answer is the true edge of the step on
    the grid (--step for α, --res-step for the side), with the bound that binds, the cost there and
    the slack of the others. With neither --alpha nor --res: the frontier of (α, resolution) pairs.
    """
    from costmodel import budget
    from costmodel.compare import split_values
    from costmodel.loading import load_model
    from costmodel.model import input_side, with_aspect_of
    from costmodel.render import table, thousands

    model, (resolution,) = with_aspect_of(load_model(model_name, variant), [resolution])
    bounds = budget.bounds_from(_limits(max_macs, max_params, max_size, max_peak_memory))
    values = dict(parse_sets(sets))
    if alpha is not None and resolution is not None:
        raise UsageError("fix one of --alpha and --res: solve finds the other")
    if alpha is None and resolution is None and model.roles.width is not None and model.base_resolution is not None:
        sides = [input_side(s) for s in split_values(res_range, "--res-range") if s is not None]
        found = budget.frontier(
            model, bounds, sides, values=values, counting=counting, dtype=dtype, step=step, alpha_max=alpha_max
        )
        if fmt == "json":
            rows = [{**r, "alpha": show_number(r["alpha"])} for r in found.to_records()]
            click.echo(json.dumps({"model": model.name, "frontier": rows}, indent=2))
            return
        click.echo(f"{model.name}: the widest α (step {step}) that fits at each resolution, {_bounds_text(bounds)}")
        columns = [("input", "resolution", "num"), ("α", "alpha_text", "")]
        columns += [(m, m, "thousands") for m in found.rows[0] if m in budget.BOUND_METRICS]
        columns += [("binds", "binding", "")]
        rows = [{**r, "alpha_text": show_number(r["alpha"])} for r in found.rows]
        click.echo(table(rows, columns))
        return
    answer = budget.solve(
        model,
        bounds,
        alpha=alpha,
        resolution=resolution,
        values=values,
        counting=counting,
        dtype=dtype,
        step=step,
        alpha_max=alpha_max,
        resolution_step=res_step,
    )
    if fmt == "json":
        data = {
            "model": model.name,
            "free": answer.free,
            "value": show_number(answer.value),
            "step": str(answer.step),
            "point": {k: show_number(v) for k, v in answer.point.values.items()},
            "resolution": answer.point.resolution,
            "input_size": list(answer.point.sides) if answer.point.sides is not None else None,
            "costs": answer.costs,
            "bounds": answer.to_records(),
            "binding": answer.binding,
            "next": None if answer.next_value is None else show_number(answer.next_value),
        }
        click.echo(json.dumps(data, indent=2))
        return
    shown = "×".join(map(str, answer.point.sides or ()))
    where = f"at {shown}" if answer.free == "alpha" else f"at α = {alpha}"
    if answer.free == "resolution" and alpha is None:
        where = ""
    name = "α" if answer.free == "alpha" else "resolution"
    click.echo(f"{model.name} {where} (counting: {counting.label}):".replace("  ", " "))
    click.echo(f"  the largest {name} on a step of {answer.step} that fits: {show_number(answer.value)}")
    rows = [
        {
            "metric": r["metric"] + (f" ({dtype})" if r["metric"] == "size" else ""),
            "cost": r["cost"],
            "limit": r["limit"],
            "slack": f"{r['slack']:.2%}",
            "next": "—" if r["next"] is None else thousands(r["next"]),
        }
        for r in answer.to_records()
    ]
    columns = [("bound", "metric", ""), ("cost", "cost", "thousands"), ("limit", "limit", "thousands")]
    columns += [("slack", "slack", "num"), (f"at {show_number(answer.next_value)}", "next", "num")]
    click.echo(table(rows, columns))
    if answer.binding:
        click.echo(f"  binds: {', '.join(answer.binding)} (the next step, {show_number(answer.next_value)}, breaks it)")
    else:
        click.echo("  no bound binds on this grid: every larger value fits too")


def _bounds_text(bounds: list[Any]) -> str:
    return ", ".join(f"{b.metric} <= {b.text}" for b in bounds)


@click.command()
@user_errors
@bound_options
@click.option("--models", help="Comma-separated models to choose from (default: every built-in).")
@click.option("--all", "show_all", is_flag=True, help="List dominated configurations too (marked).")
@counting_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def pick(
    max_macs: str | None,
    max_params: str | None,
    max_size: str | None,
    dtype: str,
    max_peak_memory: str | None,
    models: str | None,
    show_all: bool,
    counting: Counting,
    fmt: str,
) -> None:
    """The most accurate published configuration that fits the budget.

    Every configuration with a published ImageNet top-1 (the specs' accuracy rows) is costed exactly;
    those that meet every bound are ranked, most accurate first, with their costs and the source of
    each figure. A configuration is dominated when another that fits is at least as accurate and no
    more costly on every bounded metric.
    """
    from costmodel import budget
    from costmodel.pick import pick as rank
    from costmodel.render import table

    bounds = budget.bounds_from(_limits(max_macs, max_params, max_size, max_peak_memory))
    names = [m.strip() for m in models.split(",")] if models else None
    ranking = rank(bounds, names, counting, dtype)
    shown = [c for c in ranking.candidates if show_all or not c.dominated_by]
    if fmt == "json":
        best = ranking.best
        data = {"bounds": [b.__dict__ for b in bounds], "best": best.record() if best else None}
        data["configurations"] = [c.record() for c in shown]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not ranking.candidates:
        click.echo(f"no published configuration fits {_bounds_text(bounds)}")
        return
    click.echo(f"published configurations that fit {_bounds_text(bounds)}, most accurate first:")
    rows = [
        {
            "config": c.label,
            "top1": f"{c.top1:g}",
            **c.costs,
            "note": ("dominated by " + c.dominated_by[0]) if c.dominated_by else "",
            "source": c.source,
        }
        for c in shown
    ]
    columns = [("configuration", "config", ""), ("top-1 %", "top1", "num"), ("MACs", "macs", "thousands")]
    columns += [("params", "params", "thousands"), (f"size ({dtype})", "size", "size")]
    columns += [("peak act.", "peak_memory", "size")]
    columns += [("", "note", "")] if show_all else []
    columns += [("source", "source", "")]
    click.echo(table(rows, columns))
    hidden = len(ranking.candidates) - len(shown)
    if hidden:
        click.echo(f"({hidden} dominated configurations left out: --all lists them)")


COMMANDS: tuple[click.Command, ...] = (solve, pick)
