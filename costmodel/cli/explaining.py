"""``explain``: which convention printed a number; ``conventions``: every convention's rules."""

from __future__ import annotations

import click

from costmodel.cli.options import EXIT_MISMATCH, model_argument, point_options, user_errors, variant_option
from costmodel.model import PointOptions


@click.command()
@user_errors
@model_argument
@click.argument("number", nargs=-1, required=True)
@point_options
@variant_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain(model_name: str, number: tuple[str, ...], point: PointOptions, variant: str | None, fmt: str) -> None:
    """Which convention gives NUMBER for MODEL at the point (589.0M, 0.59 G, 1.18 GFLOPs, 4.23M params).

    Tries every MACs convention (the paper's and each PyTorch tool's), read as MACs and as FLOPs
    (2 × MACs), with batch norms as they are and folded, and every parameter preset; lists those whose
    exact count prints as NUMBER at its precision, and how each differs from the paper's count. With
    no match, says so and shows the nearest.
    """
    from costmodel.explain import explain as explain_number
    from costmodel.explain import render_text, to_record
    from costmodel.loading import load_model
    from costmodel.render import to_json

    model = point.reshape(load_model(model_name, variant))
    at = point.resolve(model)
    found = explain_number(model, at, " ".join(number))
    if fmt == "json":
        click.echo(to_json(to_record(found)), nl=False)
        return
    where = at.symbols_text
    click.echo(render_text(model, at, found, f"{where} ({at.label} px)" if at.label else where), nl=False)
    if not found.matches:
        raise SystemExit(EXIT_MISMATCH)  # as grep: nothing found


@click.command("conventions")
@user_errors
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True)
def conventions_command(fmt: str) -> None:
    """The MACs conventions: what each PyTorch counting tool adds to the paper's multiply-accumulates."""
    from costmodel.macs_conventions import conventions_table
    from costmodel.render import to_json

    headers, rows, records = conventions_table()
    if fmt == "json":
        click.echo(to_json(records), nl=False)
        return
    from costmodel.doc_tables import render
    from costmodel.macs_conventions import CONVENTIONS

    legend = "\n".join(f"{c.name}: {c.tool}: {c.description}" for c in CONVENTIONS.values())
    note = (
        "Added to the paper's MACs per layer: out/in = its output/input elements, bias = its output "
        "elements where it has a bias, γ+β = a batch norm's affine values; other operator types add 0."
    )
    text = render([("", headers, rows)], fmt)
    click.echo(text + ("\n" if fmt == "md" else "") + note + "\n\n" + legend + "\n", nl=False)


COMMANDS: tuple[click.Command, ...] = (explain, conventions_command)
