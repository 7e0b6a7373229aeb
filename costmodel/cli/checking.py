"""The checking commands: ``check`` (specs against their published figures) and ``verify`` (the counts
and closed forms against a NumPy run). Both exit 1 on a disagreement, so that CI can run them."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from costmodel.cli.options import (
    EXIT_MISMATCH,
    params_counting_option,
    point_options,
    say,
    user_errors,
    variant_option,
)
from costmodel.conventions import Counting
from costmodel.errors import UsageError
from costmodel.model import Model, Point, PointOptions

if TYPE_CHECKING:
    from costmodel.verify import Verification

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


@click.command()
@user_errors
@click.argument("specs", nargs=-1, metavar="[SPEC]...")
@click.option("--quiet", "-q", is_flag=True, help="Only print failures and the summary.")
def check(specs: tuple[str, ...], quiet: bool) -> None:
    """Validate specs and compare their reference rows with the counts (default: every built-in)."""
    from costmodel.loading import load_model
    from costmodel.references import check_references
    from costmodel.resources import builtin_names

    names = list(specs) or builtin_names()
    checked = []
    for name in names:  # every spec checked before a line is printed: a mistake is the only output
        model = load_model(name)
        for variant in model.spec.variants:  # every variant must build too, not only those a row names
            load_model(name, variant)
        checked.append((model, check_references(model)))
    failed = total = 0
    for model, checks in checked:
        for c in checks:
            total += 1
            failed += not c.ok
            if quiet and c.ok:
                continue
            status = click.style("ok  ", fg="green") if c.ok else click.style("FAIL", fg="red", bold=True)
            if os.environ.get("NO_COLOR"):
                status = "ok  " if c.ok else "FAIL"
            # no actual value: a minimum resolution where no input up to 65536 is enough
            actual = "none" if c.actual is None else f"{c.actual:,}" if isinstance(c.actual, int) else f"{c.actual:.4g}"
            line = f"{status} {model.spec.file}:{c.line}: {c.figure} = {actual} (published {c.expected}; {c.source})"
            if c.note:
                line += f"\n     disagreement: {c.note}"
            click.echo(line, color=False if os.environ.get("NO_COLOR") else None)
        if not checks and not quiet:
            click.echo(f"valid {model.spec.file} (no reference rows)")
    click.echo(f"{total - failed} passed, {failed} failed")
    if failed:
        sys.exit(EXIT_MISMATCH)


@click.command()
@user_errors
@click.argument("model_name", metavar="[MODEL|PATH]", required=False)
@point_options
@variant_option
@params_counting_option
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every built-in model (or MODEL) and its variants at several points: odd resolutions, non-standard α.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the weights and the input.")
def verify(
    model_name: str | None,
    point: PointOptions,
    variant: str | None,
    counting: Counting,
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

    if every:
        if point.given:
            raise UsageError("--all chooses its own points; leave out --alpha, --res, --rho, --classes and --set")
        runs = _every_point(model_name, variant)
    else:
        if model_name is None:
            raise UsageError("name a MODEL (or PATH), or give --all")
        model = point.reshape(load_model(model_name, variant))
        runs = [(model, point.resolve(model))]
    failed = 0
    for model, at in runs:
        result = verification.verify(model, at, counting, seed)
        label = verification.point_label(model, at)
        if not every:
            click.echo(table(_verified_layers(result), VERIFY_LAYER_COLUMNS) + "\n")
        if result.ok:
            click.echo(
                f"{label}: {len(result.records)} layers, shapes, params and MACs agree "
                f"({thousands(result.macs)} MACs, {thousands(result.params)} params {counting.name})"
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
        say(f"{label}: {len(rows)} disagreement{'s' if len(rows) != 1 else ''}", "red", bold=True)
        click.echo(table(rows, VERIFY_COLUMNS))
    if len(runs) > 1:
        click.echo(f"{len(runs) - failed} passed, {failed} failed")
    if failed:
        sys.exit(EXIT_MISMATCH)


def _every_point(model_name: str | None, variant: str | None) -> list[tuple[Model, Point]]:
    """``verify --all``: each model (every built-in without MODEL) as written and as each variant, or only
    ``variant`` where a model has it, at the points :func:`costmodel.verify.all_points` chooses."""
    from costmodel import verify as verification
    from costmodel.loading import load_model
    from costmodel.resources import builtin_names

    runs = []
    for name in [model_name] if model_name else builtin_names():
        base = load_model(name)
        for chosen in [variant] if variant else [None, *base.spec.variants]:
            if chosen is None or chosen in base.spec.variants:
                model = load_model(name, chosen)
                runs += verification.all_points(model)
    if not runs:
        raise UsageError(f"no built-in model has a variant '{variant}'")
    return runs


def _verified_layers(result: Verification) -> list[dict[str, Any]]:
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
    """A disagreement's value as the tables print it: shapes as 3×224×224, counts with separators."""
    from costmodel.render import shape, thousands

    if isinstance(value, tuple):
        return shape(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return thousands(value)
    return str(value)


COMMANDS: tuple[click.Command, ...] = (check, verify)
