"""The closed-form command: ``expr``, a model's count as a formula in its symbols."""

from __future__ import annotations

from fractions import Fraction

import click

from costmodel.cli.options import (
    counting_option,
    model_argument,
    parse_sets,
    point_options,
    user_errors,
    variant_option,
)
from costmodel.conventions import Counting
from costmodel.errors import UsageError
from costmodel.intmath import exact_number
from costmodel.model import PointOptions


@click.command()
@user_errors
@model_argument
@click.option(
    "--metric", type=click.Choice(["params", "macs", "flops", "other_ops"]), default="macs", show_default=True
)
@counting_option
@click.option("--per-layer", is_flag=True, help="One closed form per layer.")
@click.option("--per-type", is_flag=True, help="One closed form per operator type.")
@click.option("--smooth", is_flag=True, help="Relax the rounding: the scaling law, leading terms first.")
@click.option(
    "--scale",
    "scales",
    multiple=True,
    metavar="NAME=FACTOR",
    help="What if a symbol is multiplied, e.g. --scale rho=1/2: the exact ratio and the smooth one, by term.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "latex", "json"]), default="text", show_default=True)
@point_options
@variant_option
def expr(
    model_name: str,
    metric: str,
    counting: Counting,
    per_layer: bool,
    per_type: bool,
    smooth: bool,
    scales: tuple[str, ...],
    fmt: str,
    point: PointOptions,
    variant: str | None,
) -> None:
    """The closed form of MODEL's params or MACs in its symbols.

    Exact by default: floors, ceilings and conditions included, so it equals the count at every valid
    point. Point options fix some symbols (what-if: `--res 160` leaves a formula in α).
    """
    from costmodel.expression_view import expression_output
    from costmodel.loading import load_model

    model = point.reshape(load_model(model_name, variant))
    fixed = point.fixed(model)
    factors = {name: _factor(name, value) for name, value in parse_sets(scales, "--scale")}
    text = expression_output(
        model,
        metric,
        counting,
        point.resolve(model),
        fixed,
        per_layer=per_layer,
        per_type=per_type,
        smooth=smooth,
        scale=factors,
        fmt=fmt,
    )
    click.echo(text, nl=False)


def _factor(name: str, value: str) -> Fraction:
    try:
        factor = exact_number(value)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--scale {name}= takes a number such as 1/2 or 0.75, got {value!r}") from None
    if factor <= 0:
        raise UsageError(f"--scale {name}= takes a positive factor, got {value}")
    return factor


COMMANDS: tuple[click.Command, ...] = (expr,)
